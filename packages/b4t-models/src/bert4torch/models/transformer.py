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
import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import torch
from torch import Tensor, nn

from bert4torch.activations import get_activation

from ._cache import CachedAttention, KVCache, attention_bias, position_ids_from_mask
from ._config import ConfigError, closest
from ._model import ModelBase

__all__ = [
    "Decoder",
    "HF_BOOKKEEPING_KEYS",
    "Transformer",
    "TransformerConfig",
    "DecoderBase",
    "config_to_dict",
    "RMSNorm",
    "activation",
    "decoder_inputs",
    "decoder_outputs",
    "output_activation",
    "parse_config",
    "run_decoder_layers",
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
            name = key if key in fields else aliases.get(key)
            if name is None:
                if key not in skip:  # a family's alias wins over the shared bookkeeping list
                    unknown.append(key)
                continue
            if name in seen and seen[name] != value:
                raise ConfigError(f"{cls.__name__}: {key}={value!r} disagrees with {name}={seen[name]!r}")
            seen[name] = values[name] = value
    if unknown:
        valid = sorted(fields | set(aliases))
        hints = [f"{key!r}" + (f" (did you mean {c!r}?)" if (c := closest(key, valid)) else "") for key in unknown]
        raise ConfigError(f"{cls.__name__}: unknown config key(s) {', '.join(hints)}")
    missing = [
        f.name for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.name not in values and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{cls.__name__}: required option(s) missing: {', '.join(missing)}")
    _check_final_activation(cls.__name__, values.get("final_activation", "linear"))
    return cls(**values)


def _check_final_activation(owner: str, value: Any) -> None:
    if value not in ("linear", "softmax"):
        raise ConfigError(f"{owner}: final_activation must be 'linear' or 'softmax', got {value!r}")


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
        if x.dtype == torch.float32:  # the common case: skip two no-op casts per call (they cost dispatch time)
            return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))
        x32 = x.float()
        x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x32.to(x.dtype)


def activation(name: str) -> Any:
    """The activation called ``name`` in a config, from the one registry (``bert4torch.activations``).

    Raises:
        ValueError: An unknown name, with the closest valid ones.
    """
    try:
        return get_activation(name)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None


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


def unpack_inputs(inputs: Any, names: tuple[str, ...]) -> list[Any]:
    """Accept the original's one-list input (``model([a, b])``), the unpacked items (``model(a, b)``, how the trainer
    calls a model with a batch's list) or a bare tensor for a single input, and check the count.

    Args:
        inputs: What ``forward(*inputs)`` received (a tuple), or one nested list/tensor.
        names: The expected inputs, for the error message.

    Returns:
        The inputs as a list of ``len(names)`` items.
    """
    if isinstance(inputs, Tensor):
        inputs = [inputs]
    items = list(inputs)
    if len(items) == 1 and isinstance(items[0], (list, tuple)):
        items = list(items[0])
    if len(items) != len(names):
        raise ValueError(f"expected inputs [{', '.join(names)}], got {len(items)} item(s)")
    return items


def run_decoder_layers(
    layers: nn.ModuleList, x: Tensor, past: KVCache | None, *args: Any
) -> tuple[Tensor, tuple[tuple[Tensor, Tensor], ...]]:
    """Run ``layer(x, *args, layer_past)`` down a decoder stack, each layer with its own cached ``(key, value)``.

    Returns:
        The stack's output and every layer's new ``(key, value)``, in order (the ``self_attn`` of the next cache).
    """
    pasts = past.self_attn if past is not None and past.seq_len else (None,) * len(layers)
    new_kv = []
    for layer, layer_past in zip(layers, pasts):
        x, kv = layer(x, *args, layer_past)
        new_kv.append(kv)
    return x, tuple(new_kv)


def decoder_outputs(
    outputs: Tensor, new_kv: tuple[tuple[Tensor, Tensor], ...], step: DecoderStep, use_cache: bool
) -> Tensor | tuple[Tensor, KVCache]:
    """A decoder-only family's return value: ``outputs``, or ``(outputs, cache)`` when ``use_cache``."""
    if not use_cache:
        return outputs
    return outputs, KVCache(self_attn=new_kv, cross_attn=(), key_mask=step.key_mask)


class DecoderBase(ModelBase):
    """What every decoder/seq2seq family shares: the ``build_transformer_model`` contract and saving.

    It follows the contract of ``bert4torch.models._base.BERT_BASE`` without its encoder options: ``config_class``
    with ``from_dict(data, *, overrides)``/``to_dict()``; ``__init__(config=None, /, **options)`` (options are
    validated by the config: a typo raises); ``prefix``/``weight_map`` read by the shared strict loader; the
    loader's hooks ``load_variable`` (tensor surgery), ``tie_weights`` and ``init_model_weights``. Saving goes
    through the derived inverse map plus :meth:`restore_checkpoint_tensors`, the inverse surgery.
    """

    config_class: ClassVar[type]
    prefix: ClassVar[str] = ""
    hf_model_type: ClassVar[str | None] = None
    hf_architecture: ClassVar[str | None] = None
    weight_map: Mapping[str, str | list[str] | None]

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__()
        self.config = config = self.config_from(config, options)
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

    # -- saving
    def checkpoint_state(self) -> dict[str, Tensor]:
        """Our weights under the checkpoint's keys (derived inverse map, then :meth:`restore_checkpoint_tensors`)."""
        from ._weights import invert_weight_map

        inverse = invert_weight_map(self.weight_map, self.layers_in_map())
        aliases = set(self.tied_weights())
        state: dict[str, Tensor] = {}
        for name, tensor in self.state_dict().items():
            if name not in aliases:
                state.setdefault(inverse.get(name, name), tensor)
        return {key: value.contiguous() for key, value in self.restore_checkpoint_tensors(state).items()}

    def to_hf_config(self) -> dict[str, Any]:
        """The HF ``config.json`` of this model (families with a ``transformers`` class implement it)."""
        raise NotImplementedError(f"{type(self).__name__} has no transformers counterpart")

    def save_pretrained(self, save_path: str | Any) -> None:
        """Write ``config.json`` and ``model.safetensors``.

        Families with a ``transformers`` class (``hf_model_type`` set) write its layout, which ``from_pretrained``
        loads; the others (gpt2_ml, transformer_xl, the generic transformer) write our config fields and parameter
        names, which ``build_transformer_model(config_path=folder, checkpoint_path=folder, model=...)`` loads.
        """
        import json
        from pathlib import Path

        from ._weights import save_state_dict

        folder = Path(save_path)
        folder.mkdir(parents=True, exist_ok=True)
        if self.hf_model_type is not None:
            config = {"architectures": [self.hf_architecture], "model_type": self.hf_model_type, **self.to_hf_config()}
            state = self.checkpoint_state()
        else:
            config = self.config.to_dict()
            aliases = set(self.tied_weights())
            state = {k: v.contiguous() for k, v in self.state_dict().items() if k not in aliases}
        (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
        save_state_dict(state, folder / "model.safetensors")


# --- the generic encoder-decoder (`model='transformer'`, `'decoder'`; BART configures it) ---------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerConfig:
    """Post-LN encoder-decoder with learned absolute positions (the original's ``Transformer``; BART's layout)."""

    vocab_size: int  # vocabulary of both sides unless src/tgt sizes are given
    hidden_size: int  # model width
    num_hidden_layers: int  # encoder layers
    num_attention_heads: int  # heads (both stacks)
    intermediate_size: int  # FFN width (both stacks)
    num_decoder_layers: int | None = None  # decoder layers; None = num_hidden_layers
    src_vocab_size: int | None = None  # encoder vocabulary; None = vocab_size
    tgt_vocab_size: int | None = None  # decoder vocabulary and LM head rows; None = vocab_size
    hidden_act: str = "gelu"  # FFN activation
    max_position: int = 512  # usable positions per side
    position_offset: int = 0  # rows before position 0 in the table (BART keeps 2, a fairseq legacy)
    embedding_layer_norm: bool = True  # LayerNorm after summing the embeddings
    scale_embedding: bool = False  # multiply token embeddings by sqrt(hidden_size)
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    dropout_rate: float = 0.0  # residual/embedding dropout (training only)
    attention_probs_dropout_prob: float = 0.0  # attention dropout (training only)
    tie_emb_src_tgt_weight: bool = False  # encoder and decoder share the token embedding
    tie_word_embeddings: bool = True  # LM head shares the decoder token embedding (original: tie_emb_prj_weight)
    logit_scale: bool = False  # scale the LM head input by hidden_size ** -0.5 (the original's tied-head option)
    final_logits_bias: bool = False  # a bias row added to the logits (BART)
    segment_vocab_size: int = 0  # segment embeddings are not implemented here: only 0 is accepted
    token_pad_ids: int = 0  # encoder padding id; decoder padding comes only from an explicit mask
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> TransformerConfig:
        """From an original bert4torch config (``src_vocab_size``/``tgt_vocab_size``) or our field names."""
        config = parse_config(
            cls, data, overrides,
            aliases={"max_position_embeddings": "max_position", "hidden_dropout_prob": "dropout_rate",
                     "tie_emb_prj_weight": "tie_word_embeddings", "pad_token_id": "token_pad_ids",
                     "type_vocab_size": "segment_vocab_size"},
        )
        if config.segment_vocab_size:
            raise ConfigError("TransformerConfig: segment_vocab_size > 0 is not supported; pass segment_vocab_size=0")
        return config

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def decoder_layers(self) -> int:
        """Decoder depth after applying the default."""
        return self.num_decoder_layers or self.num_hidden_layers


class Seq2SeqEmbeddings(nn.Module):
    """Token (optionally scaled) plus learned position embeddings, then LayerNorm and dropout."""

    def __init__(self, config: TransformerConfig, vocab_size: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position + config.position_offset, config.hidden_size)
        self.layerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if config.embedding_layer_norm else None
        self.scale = math.sqrt(config.hidden_size) if config.scale_embedding else 1.0
        self.offset = config.position_offset
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, token_ids: Tensor, position_ids: Tensor) -> Tensor:
        """Embed ids at ``position_ids`` (``[batch, len]``)."""
        x = self.word_embeddings(token_ids) * self.scale + self.position_embeddings(position_ids + self.offset)
        if self.layerNorm is not None:
            x = self.layerNorm(x)
        return self.dropout(x)


class Seq2SeqFeedForward(nn.Module):
    """``outputDense(act(intermediateDense(x)))``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.intermediateDense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.outputDense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = activation(config.hidden_act)

    def forward(self, x: Tensor) -> Tensor:
        """The FFN."""
        return self.outputDense(self.act(self.intermediateDense(x)))


def _seq2seq_attention(config: TransformerConfig, cross: bool = False) -> CachedAttention:
    heads = config.num_attention_heads
    return CachedAttention(config.hidden_size, heads, config.hidden_size // heads, cross=cross,
                           dropout=config.attention_probs_dropout_prob)


class Seq2SeqEncoderLayer(nn.Module):
    """Post-LN: ``LN(x + attn(x))``, then ``LN(x + ffn(x))``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.multiHeadAttention = _seq2seq_attention(config)
        self.layerNorm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feedForward = Seq2SeqFeedForward(config)
        self.layerNorm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor, bias: Tensor | None) -> Tensor:
        """One block."""
        x = self.layerNorm1(x + self.dropout(self.multiHeadAttention(x, bias=bias)[0]))
        return self.layerNorm2(x + self.dropout(self.feedForward(x)))


class Seq2SeqDecoderLayer(nn.Module):
    """Post-LN causal self-attention, cross-attention and FFN."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.multiHeadAttention = _seq2seq_attention(config)
        self.layerNorm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.crossAttention = _seq2seq_attention(config, cross=True)
        self.crossLayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.feedForward = Seq2SeqFeedForward(config)
        self.layerNorm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self, x: Tensor, self_bias: Tensor | None, is_causal: bool, cross_bias: Tensor | None,
        encoder_hidden: Tensor | None, past_self: tuple[Tensor, Tensor] | None,
        past_cross: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """One block; returns the output and the new self- and cross-attention ``(key, value)``."""
        attn, self_kv = self.multiHeadAttention(x, bias=self_bias, is_causal=is_causal, past=past_self)
        x = self.layerNorm1(x + self.dropout(attn))
        attn, cross_kv = self.crossAttention(x, bias=cross_bias, past=past_cross, source=encoder_hidden)
        x = self.crossLayerNorm(x + self.dropout(attn))
        return self.layerNorm2(x + self.dropout(self.feedForward(x))), self_kv, cross_kv


def _padding_bias(mask: Tensor, dtype: torch.dtype) -> Tensor | None:
    """``[batch, len]`` bool -> additive ``[batch, 1, 1, len]``, or None when nothing is padding."""
    if bool(mask.all()):
        return None
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    return torch.where(mask[:, None, None, :], zero, torch.finfo(dtype).min)


class Seq2SeqEncoder(nn.Module):
    """The encoder stack: ``(token_ids, mask) -> hidden`` (positions are indices: encoders are right-padded)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.embeddings = Seq2SeqEmbeddings(config, config.src_vocab_size or config.vocab_size)
        self.encoderLayer = nn.ModuleList(Seq2SeqEncoderLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, token_ids: Tensor, mask: Tensor) -> Tensor:
        """Encode ``[batch, len]`` ids; ``mask`` is True for real tokens."""
        positions = torch.arange(token_ids.shape[1], device=token_ids.device).expand_as(token_ids)
        x = self.embeddings(token_ids, positions)
        bias = _padding_bias(mask, x.dtype)
        for layer in self.encoderLayer:
            x = layer(x, bias)
        return x


class Seq2SeqDecoder(nn.Module):
    """The decoder stack with its LM head; positions count real tokens, so left padding is exact."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        vocab = config.tgt_vocab_size or config.vocab_size
        self.embeddings = Seq2SeqEmbeddings(config, vocab)
        self.decoderLayer = nn.ModuleList(Seq2SeqDecoderLayer(config) for _ in range(config.decoder_layers))
        self.lm_head = nn.Linear(config.hidden_size, vocab, bias=False)
        self.final_logits_bias = nn.Parameter(torch.zeros(1, vocab)) if config.final_logits_bias else None

    def forward(
        self, token_ids: Tensor, encoder_hidden: Tensor | None, encoder_mask: Tensor | None,
        attention_mask: Tensor | None, past: KVCache | None,
    ) -> tuple[Tensor, Tensor, KVCache]:
        """Returns ``(hidden, logits, new_cache)``; see :func:`decoder_inputs` for the masks."""
        past = past if past is not None and past.seq_len else None
        dtype = self.embeddings.word_embeddings.weight.dtype
        step = decoder_inputs(token_ids, pad_id=None, attention_mask=attention_mask, past=past, dtype=dtype)
        x = self.embeddings(token_ids, step.position_ids)
        if past is not None and past.encoder_mask is not None:
            enc_mask = past.encoder_mask
        elif encoder_mask is not None:
            enc_mask = encoder_mask.bool()
        elif encoder_hidden is not None:
            enc_mask = torch.ones(encoder_hidden.shape[:2], dtype=torch.bool, device=x.device)
        else:
            raise ValueError("the decoder needs encoder_hidden (or a cache holding its projection)")
        cross_bias = _padding_bias(enc_mask, dtype)
        self_kv, cross_kv = [], []
        for i, layer in enumerate(self.decoderLayer):
            x, skv, ckv = layer(
                x, step.bias, step.is_causal, cross_bias, encoder_hidden,
                past.self_attn[i] if past is not None else None, past.cross_attn[i] if past is not None else None,
            )
            self_kv.append(skv)
            cross_kv.append(ckv)
        head_in = x * self.config.hidden_size**-0.5 if self.config.logit_scale else x
        logits = self.lm_head(head_in)
        if self.final_logits_bias is not None:
            logits = logits + self.final_logits_bias
        logits = output_activation(logits, self.config.final_activation)
        cache = KVCache(self_attn=tuple(self_kv), cross_attn=tuple(cross_kv), key_mask=step.key_mask, encoder_mask=enc_mask)
        return x, logits, cache


class Transformer(DecoderBase):
    """Generic encoder-decoder (``model='transformer'``): ``[[encoder_ids], [decoder_ids]]`` ->
    ``[encoder_hidden, decoder_hidden, logits]``, with the cache protocol of ``_cache.py`` (with a filled cache pass
    ``[None, [new_ids]]``; the encoder is not run again and the output is ``[decoder_hidden, logits]``).

    Args:
        config: A :class:`TransformerConfig` (or a subclass such as BART's), or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = TransformerConfig

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = {}  # no public checkpoint format: our own names load as they are
        self.encoder = Seq2SeqEncoder(config)
        self.decoder = Seq2SeqDecoder(config)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` of parameters sharing storage."""
        c = self.config
        tied = {}
        dec_owner = "decoder.embeddings.word_embeddings.weight"
        if c.tie_emb_src_tgt_weight:
            dec_owner = "encoder.embeddings.word_embeddings.weight"
            tied["decoder.embeddings.word_embeddings.weight"] = dec_owner
        if c.tie_word_embeddings:
            tied["decoder.lm_head.weight"] = dec_owner
        return tied

    def layers_in_map(self) -> int:
        """The deeper of the two stacks."""
        return max(self.config.num_hidden_layers, self.config.decoder_layers)

    def expected_new_parameters(self) -> set[str]:
        """The logits bias may be absent from a checkpoint (transformers ignores it when missing): it starts at 0."""
        return {"decoder.final_logits_bias"} if self.config.final_logits_bias else set()

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init, plus a zero logits bias."""
        super().init_model_weights(module)
        if isinstance(module, Seq2SeqDecoder) and module.final_logits_bias is not None:
            nn.init.zeros_(module.final_logits_bias)

    def forward(
        self,
        *inputs: Any,
        encoder_attention_mask: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Run ``[[encoder inputs], [decoder inputs]]`` (see the class docstring for the cached form)."""
        encoder_inputs, dec_inputs = unpack_inputs(inputs, ("encoder_inputs", "decoder_inputs"))
        if past_key_values is not None and past_key_values.seq_len:
            encoder_hidden, encoder_mask = None, None
        else:
            (enc_ids,) = unpack_inputs(encoder_inputs, ("token_ids",))
            encoder_mask = (
                encoder_attention_mask.bool() if encoder_attention_mask is not None
                else enc_ids != self.config.token_pad_ids
            )
            encoder_hidden = self.encoder(enc_ids, encoder_mask)
        (dec_ids,) = unpack_inputs(dec_inputs, ("token_ids",))
        hidden, logits, cache = self.decoder(dec_ids, encoder_hidden, encoder_mask, decoder_attention_mask, past_key_values)
        outputs = [t for t in (encoder_hidden, hidden, logits) if t is not None]
        return (outputs, cache) if use_cache else outputs


class Decoder(DecoderBase):
    """The generic decoder alone (``model='decoder'``): ``[token_ids, encoder_hidden, encoder_mask]`` ->
    ``[hidden, logits]``, with the same cache protocol.
    """

    config_class: ClassVar[type] = TransformerConfig

    def __init__(self, config: TransformerConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self.weight_map = {}
        self.decoder = Seq2SeqDecoder(self.config)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        return {"decoder.lm_head.weight": "decoder.embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def layers_in_map(self) -> int:
        """Decoder depth."""
        return self.config.decoder_layers

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Decode ``[token_ids, encoder_hidden, encoder_mask]`` (the last two may be None with a filled cache)."""
        token_ids, encoder_hidden, encoder_mask = unpack_inputs(inputs, ("token_ids", "encoder_hidden", "encoder_mask"))
        hidden, logits, cache = self.decoder(token_ids, encoder_hidden, encoder_mask, attention_mask, past_key_values)
        return ([hidden, logits], cache) if use_cache else [hidden, logits]
