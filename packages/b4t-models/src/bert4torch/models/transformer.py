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
import re
from collections.abc import Mapping
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._cache import KVCache, attention_bias, position_ids_from_mask

__all__ = [
    "HF_BOOKKEEPING_KEYS",
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
    *,
    aliases: Mapping[str, str],
    ignored: frozenset[str] = frozenset(),
    required_values: Mapping[str, Any] | None = None,
) -> C:
    """Build the frozen config dataclass ``cls`` from a dict, explicitly.

    Args:
        cls: The family's config dataclass.
        config: An HF ``config.json`` dict, an original bert4torch config, or the dataclass's own field names.
        aliases: Other spelling -> field name (``"n_embd": "hidden_size"``). Field names are always accepted.
        ignored: Family-specific keys that do not affect the network (added to :data:`HF_BOOKKEEPING_KEYS`).
        required_values: Keys whose only supported value is given (a variant we do not implement); any other value
            raises ``NotImplementedError`` rather than silently computing something else.

    Returns:
        An instance of ``cls``.

    Raises:
        ValueError: An unknown key (the message names the closest valid one) or two spellings of one field that
            disagree.
        NotImplementedError: A ``required_values`` key with another value.
    """
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    skip = HF_BOOKKEEPING_KEYS | ignored
    values: dict[str, Any] = {}
    unknown: list[str] = []
    for key, value in config.items():
        if required_values and key in required_values:
            if value != required_values[key]:
                raise NotImplementedError(
                    f"{cls.__name__}: {key}={value!r} is not supported (only {required_values[key]!r})"
                )
            continue
        if key in skip:
            continue
        name = key if key in fields else aliases.get(key)
        if name is None:
            unknown.append(key)
            continue
        if name in values and values[name] != value:
            raise ValueError(f"{cls.__name__}: {key}={value!r} disagrees with {name}={values[name]!r}")
        values[name] = value
    if unknown:
        valid = sorted(fields | set(aliases))
        hints = []
        for key in unknown:
            close = difflib.get_close_matches(key, valid, n=1)
            hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"{cls.__name__}: unknown config key(s) {', '.join(hints)}")
    return cls(**values)


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


# --- weight maps -------------------------------------------------------------------------------------------------
# TODO(core): switch to the shared strict helper of bert4torch.models once it lands; these two functions follow the
# same contract (checkpoint key -> our name, `{}` = first layer index in the key, None = drop, unknown key = error).

_LAYER_INDEX = re.compile(r"\.(\d+)\.")


def map_state_dict(state_dict: Mapping[str, Tensor], weight_map: Mapping[str, str | None]) -> dict[str, Tensor]:
    """Rename checkpoint keys to our parameter names through ``weight_map``.

    Args:
        state_dict: Checkpoint tensors (after any tensor surgery).
        weight_map: Checkpoint key (``{}`` standing for the first layer index) -> our name, or None to drop.

    Returns:
        Our names -> tensors.

    Raises:
        KeyError: Keys the map does not know, all listed.
    """
    out: dict[str, Tensor] = {}
    unknown = []
    for key, value in state_dict.items():
        match = _LAYER_INDEX.search(key)
        if key in weight_map:
            target = weight_map[key]
        elif match and (template := key[: match.start()] + ".{}." + key[match.end():]) in weight_map:
            target = weight_map[template]
            target = None if target is None else target.replace("{}", match.group(1))
        else:
            unknown.append(key)
            continue
        if target is not None:
            out[target] = value
    if unknown:
        raise KeyError(f"checkpoint keys unknown to the weight map: {sorted(unknown)}")
    return out


def unmap_state_dict(state_dict: Mapping[str, Tensor], weight_map: Mapping[str, str | None]) -> dict[str, Tensor]:
    """Inverse of :func:`map_state_dict` (our names -> checkpoint keys), derived from the same map."""
    inverse: dict[str, str] = {}
    for ckpt_key, target in weight_map.items():
        if target is not None:
            inverse.setdefault(target, ckpt_key)  # the first checkpoint key naming a parameter wins
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        match = _LAYER_INDEX.search(key)
        if key in inverse:
            # a per-stack parameter read from layer 0 of the checkpoint (T5's position bias) is written back there
            out[inverse[key].replace("{}", "0")] = value
        elif match and (template := key[: match.start()] + ".{}." + key[match.end():]) in inverse:
            out[inverse[template].replace("{}", match.group(1))] = value
        else:
            raise KeyError(f"parameter {key!r} has no checkpoint name in the weight map")
    return out
