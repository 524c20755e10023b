"""The generic encoder-decoder `transformer` / `decoder` families, and the small pieces the decoder families share.

Shared pieces (used by gpt, gpt2, gpt2_ml, llama, qwen2, t5, bart, xlnet, transformer_xl):

* :func:`parse_config`: turns a config dict (an HF ``config.json`` or the original bert4torch style) into a
  family's frozen dataclass, mapping aliases explicitly and rejecting unknown keys with the closest valid name.
* :class:`RMSNorm`, :func:`activation`, :func:`decoder_inputs` (padding mask, position ids and attention bias
  for a cached decoder call), :func:`output_activation`.

The generic families (``model='transformer'`` and ``'decoder'``) are the original's post-LN BERT-style encoder and
decoder with cross-attention, learned absolute positions and ``src_vocab_size`` / ``tgt_vocab_size``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._cache import KVCache, attention_bias, position_ids_from_mask
from ._config import ConfigError

__all__ = [
    "HF_BOOKKEEPING_KEYS",
    "DecoderBase",
    "config_to_dict",
    "RMSNorm",
    "activation",
    "decoder_inputs",
    "output_activation",
    "parse_config",
]

# Keys of a transformers config.json that describe bookkeeping, training-time or generation defaults, not the
# network's arithmetic; every family accepts and ignores them.
HF_BOOKKEEPING_KEYS: frozenset[str] = frozenset(
    {
        "transformers_version", "architectures", "dtype", "torch_dtype", "output_hidden_states", "return_dict",
        "chunk_size_feed_forward", "is_encoder_decoder", "id2label", "label2id", "problem_type", "_name_or_path",
        "model_type", "output_attentions", "use_cache", "bos_token_id", "eos_token_id", "decoder_start_token_id",
        "forced_eos_token_id", "forced_bos_token_id", "initializer_range", "initializer_factor", "init_std",
        "num_labels", "classifier_dropout", "tokenizer_class", "prefix", "task_specific_params", "sep_token_id",
        "cross_attention_hidden_size", "tie_encoder_decoder", "pruned_heads", "torchscript", "finetuning_task",
        "add_cross_attention", "max_length", "min_length", "num_beams", "no_repeat_ngram_size", "early_stopping",
        "length_penalty", "gradient_checkpointing", "layerdrop", "encoder_layerdrop", "decoder_layerdrop",
        "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
        "summary_last_dropout", "pretraining_tp", "use_mems_eval", "use_mems_train", "start_n_top", "end_n_top",
        "is_decoder", "activation_dropout", "attention_dropout", "max_window_layers", "keys_to_ignore_at_inference",
        "vocab_file", "n_ctx",
    }
)

C = TypeVar("C")


def parse_config(
    cls: type[C],
    config: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
    *,
    aliases: Mapping[str, str],
    ignored: frozenset[str] = frozenset(),
    required_values: Mapping[str, Any] | None = None,
) -> C:
    """Build the frozen config dataclass ``cls`` from a dict, explicitly.

    Args:
        cls: The family's config dataclass.
        config: An HF ``config.json`` dict, an original bert4torch config, or the dataclass's own field names.
        overrides: Keyword options of ``build_transformer_model``; they win over ``config``.
        aliases: Other spelling -> field name (``"n_embd": "hidden_size"``). Field names are always accepted.
        ignored: Family-specific keys that do not affect the network (added to :data:`HF_BOOKKEEPING_KEYS`).
        required_values: Keys whose only supported value is given (a variant we do not implement); any other value
            raises rather than silently computing something else.

    Returns:
        An instance of ``cls``.

    Raises:
        ConfigError: An unknown key (the message names the closest valid one), two spellings of one field that
            disagree within one source, a missing required field, or an unsupported ``required_values`` value.
    """
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    skip = HF_BOOKKEEPING_KEYS | ignored
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for source in (config, overrides or {}):
        seen: dict[str, Any] = {}
        for key, value in source.items():
            if required_values and key in required_values:
                if value != required_values[key]:
                    raise ConfigError(f"{cls.__name__}: {key}={value!r} is not supported (only {required_values[key]!r})")
                continue
            if key in skip:
                continue
            name = key if key in fields else aliases.get(key)
            if name is None:
                unknown.append(key)
                continue
            if name in seen and seen[name] != value:
                raise ConfigError(f"{cls.__name__}: {key}={value!r} disagrees with {name}={seen[name]!r}")
            seen[name] = values[name] = value
    if unknown:
        valid = sorted(fields | set(aliases))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ConfigError(f"{cls.__name__}: unknown config key(s) {', '.join(hints)}")
    missing = [
        f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{cls.__name__}: required option(s) missing: {', '.join(missing)}")
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Field values of a config dataclass (what ``build_transformer_model`` passes back as keyword options)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


class RMSNorm(nn.Module):
    """Root-mean-square norm without mean subtraction or bias (T5, LLaMA, Qwen2), computed in float32.

    Args:
        hidden_size: Width of the normalised axis.
        eps: Added to the mean square.
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """Normalise ``x`` over its last axis."""
        dtype = x.dtype
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(dtype)


def _gelu_tanh(x: Tensor) -> Tensor:
    return F.gelu(x, approximate="tanh")


_ACTIVATIONS = {
    "gelu": F.gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
    "tanh": torch.tanh,
}


def activation(name: str) -> Any:
    """The activation function called ``name`` in a config (``gelu`` is exact erf GELU, ``gelu_new`` the tanh one).

    Raises:
        ValueError: An unknown name, with the valid ones.
    """
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}; valid: {sorted(_ACTIVATIONS)}") from None


def output_activation(logits: Tensor, final_activation: str) -> Tensor:
    """Apply the head's explicit output option: ``'linear'`` returns logits, ``'softmax'`` probabilities."""
    if final_activation == "linear":
        return logits
    if final_activation == "softmax":
        return logits.softmax(dim=-1)
    raise ValueError(f"final_activation must be 'linear' or 'softmax', got {final_activation!r}")


@dataclasses.dataclass
class DecoderStep:
    """What a cached decoder call needs besides the token ids (see :func:`decoder_inputs`).

    Attributes:
        position_ids: ``[batch, new_len]`` positions counting only real tokens.
        key_mask: ``[batch, past_len + new_len]`` bool, the new cache's ``key_mask``.
        bias: Additive attention bias ``[batch, 1, new_len, past_len + new_len]`` or None.
        is_causal: Let SDPA apply the causal mask itself (no bias, no past).
    """

    position_ids: Tensor
    key_mask: Tensor
    bias: Tensor | None
    is_causal: bool


def decoder_inputs(
    token_ids: Tensor,
    *,
    pad_id: int | None,
    attention_mask: Tensor | None,
    past: KVCache | None,
    dtype: torch.dtype,
    causal: bool = True,
) -> DecoderStep:
    """Padding mask, position ids and attention bias for one (possibly cached) decoder call.

    Args:
        token_ids: ``[batch, new_len]`` ids of this call.
        pad_id: Padding id (``token_pad_ids``); None means padding is given only by ``attention_mask``.
        attention_mask: Optional explicit ``[batch, new_len]`` (1 = real token); wins over ``pad_id``.
        past: The cache before this call, or None.
        dtype: Dtype of the attention scores.
        causal: Causal self-attention (always, for the decoders).

    Returns:
        A :class:`DecoderStep`.
    """
    if attention_mask is not None:
        mask = attention_mask.bool()
    elif pad_id is not None:
        mask = token_ids != pad_id
    else:
        mask = torch.ones_like(token_ids, dtype=torch.bool)
    position_ids = position_ids_from_mask(mask, past)
    key_mask = mask if past is None or not past.seq_len else torch.cat([past.key_mask, mask], dim=1)
    bias, is_causal = attention_bias(key_mask, token_ids.shape[1], causal, dtype)
    return DecoderStep(position_ids=position_ids, key_mask=key_mask, bias=bias, is_causal=is_causal)


def unpack_inputs(inputs: Tensor | list[Tensor] | tuple[Tensor, ...], names: tuple[str, ...]) -> list[Tensor]:
    """Accept the original's one-list input convention (or a bare tensor for one input) and check its length."""
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    inputs = list(inputs)
    if len(inputs) != len(names):
        raise ValueError(f"expected inputs [{', '.join(names)}], got a list of {len(inputs)}")
    return inputs


def sinusoid_table(max_position: int, dim: int) -> Tensor:
    """The fixed sin/cos position table of "Attention is all you need" (interleaved sin, cos)."""
    position = torch.arange(max_position, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_position, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)
    return table


# --- the base of the decoder families ------------------------------------------------------------------------------


class DecoderBase(nn.Module):
    """What every decoder/seq2seq family shares: the ``build_transformer_model`` contract and saving.

    It follows the contract of ``bert4torch.models._base.BERT_BASE`` without its encoder options: ``config_class``
    with ``from_dict(data, *, overrides)``/``to_dict()``; ``__init__(config=None, /, **options)`` (options are
    validated by the config: a typo raises); ``prefix``/``weight_map`` read by the shared strict loader; the
    loader's hooks ``load_variable`` (tensor surgery), ``tie_weights`` and ``init_model_weights``. Saving goes
    through the derived inverse map plus :meth:`save_variable`, the inverse surgery.
    """

    config_class: ClassVar[type]
    prefix: ClassVar[str] = ""
    hf_model_type: ClassVar[str | None] = None
    hf_architecture: ClassVar[str | None] = None
    weight_map: Mapping[str, str | list[str] | None]

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__()
        if config is None:
            config = self.config_class.from_dict(options)
        elif options:
            config = self.config_class.from_dict(config.to_dict(), overrides=options)
        self.config = config
        self.load_report: Any = None

    # -- loader hooks
    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` parameter names that share one tensor (families override)."""
        return {}

    def tie_weights(self) -> None:
        """Point every alias of :meth:`tied_weights` at its owner (called again after loading on the meta device)."""
        for alias, owner in self.tied_weights().items():
            module_name, _, leaf = alias.rpartition(".")
            setattr(self.get_submodule(module_name), leaf, self.get_parameter(owner))

    def restore_checkpoint_tensors(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Inverse of the family's ``convert_checkpoint_tensors`` surgery, applied when saving (default: none)."""
        return state

    def init_model_weights(self, module: nn.Module) -> None:
        """Initialise what a checkpoint did not provide: normal(0, 0.02) weights, zero biases, unit norms."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.LayerNorm, RMSNorm)):
            nn.init.ones_(module.weight)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    def layers_in_map(self) -> int:
        """How many layer indices the weight map's ``{}`` slot can take (the deepest stack)."""
        return int(getattr(self.config, "num_hidden_layers", 0) or 0)

    # -- loading and saving
    def load_weights(self, checkpoint: Any, mapping: Mapping[str, Any] | None = None, strict: bool = True) -> Any:
        """Load a checkpoint (path, folder, shards or state dict) strictly through the family's weight map."""
        from ._weights import load_weights

        return load_weights(self, checkpoint, mapping, ignore_invalid_weights=not strict)

    load_weights_from_pytorch_checkpoint = load_weights

    def checkpoint_state(self) -> dict[str, Tensor]:
        """Our weights under the checkpoint's keys (derived inverse map, then :meth:`save_variable`)."""
        from ._weights import invert_weight_map

        inverse = invert_weight_map(self.weight_map, self.layers_in_map())
        aliases = set(self.tied_weights())
        state: dict[str, Tensor] = {}
        for name, tensor in self.state_dict().items():
            if name not in aliases:
                state.setdefault(inverse.get(name, name), tensor)
        return {key: value.contiguous() for key, value in self.restore_checkpoint_tensors(state).items()}

    def to_hf_config(self) -> dict[str, Any]:
        """The HF ``config.json`` of this model (families implement it)."""
        raise NotImplementedError(f"{type(self).__name__} cannot write an HF config")

    def save_pretrained(self, save_path: str | Any) -> None:
        """Write ``config.json`` and ``model.safetensors`` that ``transformers`` ``from_pretrained`` loads."""
        import json
        from pathlib import Path

        from ._weights import save_state_dict

        folder = Path(save_path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {"architectures": [self.hf_architecture], "model_type": self.hf_model_type, **self.to_hf_config()}
        (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
        save_state_dict(self.checkpoint_state(), folder / "model.safetensors")

    @torch.no_grad()
    def predict(self, inputs: Any) -> Any:
        """Forward in eval mode without gradients (the original's helper)."""
        self.eval()
        return self(inputs)
