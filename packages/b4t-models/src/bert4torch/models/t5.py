"""T5 / mT5 (``model='t5'``, ``'t5.1.0'``, ``'t5.1.1'``, ``'mt5.1.1'`` and their ``_encoder`` / ``_decoder``
variants): pre-RMSNorm encoder-decoder with bucketed relative position biases, with a KV cache.

Mirrors ``transformers.T5ForConditionalGeneration`` / ``MT5ForConditionalGeneration``. Version ``t5.1.0`` has a
ReLU FFN and an LM head tied to the embedding whose input is scaled by ``d_model ** -0.5``; ``t5.1.1`` (and mT5,
t5_pegasus) has a gated-GELU FFN (``wi_0``/``wi_1``) and no scaling. Attention is unscaled (T5 folds the scale into
its initialisation). The position bias is learned per head in layer 0 of each stack and shared by all its layers;
relative distances are translation invariant, so left padding needs no position shift.

Inputs follow the original: ``model([[encoder_token_ids], [decoder_token_ids]])`` returns
``[encoder_hidden, decoder_hidden, logits]``. With a filled cache the encoder is not run again: pass
``[None, [new_decoder_ids]]`` and the call returns ``[decoder_hidden, logits]`` (None outputs are dropped, as in the
original's output filtering).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ._cache import CachedAttention, KVCache, attention_bias, causal_bias_for
from ._config import ConfigError
from .transformer import (
    DecoderBase,
    RMSNorm,
    activation,
    config_to_dict,
    output_activation,
    parse_config,
    unpack_inputs,
)

__all__ = [
    "MT5v11",
    "MT5v11Config",
    "MT5v11Decoder",
    "MT5v11Encoder",
    "T5",
    "T5v11",
    "T5v11Config",
    "T5v11Decoder",
    "T5v11Encoder",
    "T5Config",
    "T5Decoder",
    "T5Encoder",
    "T5_GATED_WEIGHT_MAP",
    "T5_WEIGHT_MAP",
    "t5_decoder_weight_map",
    "t5_encoder_weight_map",
    "t5_relative_position_bucket",
    "t5_weight_map",
]

_VERSIONS = ("t5.1.0", "t5.1.1", "mt5.1.1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class T5Config:
    """T5 hyper-parameters (HF ``T5Config`` names; original bert4torch spellings are aliases)."""

    vocab_size: int  # shared by encoder, decoder and LM head
    d_model: int  # model width
    d_kv: int  # width of one attention head
    d_ff: int  # FFN width
    num_layers: int  # encoder layers
    num_heads: int  # attention heads
    num_decoder_layers: int | None = None  # decoder layers; None = num_layers
    relative_attention_num_buckets: int = 32  # position-bias buckets
    relative_attention_max_distance: int = 128  # distance beyond which buckets saturate
    layer_norm_epsilon: float = 1e-6  # RMSNorm epsilon
    dropout_rate: float = 0.0  # dropout (training only)
    is_gated: bool = False  # gated FFN (t5.1.1, mT5): act(wi_0 x) * wi_1 x
    hidden_act: str = "relu"  # FFN activation
    tie_word_embeddings: bool = True  # LM head shares the embedding
    scale_decoder_outputs: bool = True  # scale the LM head input by d_model ** -0.5 (t5.1.0)
    token_pad_ids: int = 0  # encoder padding id (T5 pads with 0; the decoder starts with it, so it is never masked there)
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    # the version the `model=` name implies ('t5', 't5.1.0': None = read the config; 't5.1.1', 'mt5.1.1' subclasses)
    default_version: ClassVar[str | None] = None

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None, version: str | None = None
    ) -> T5Config:
        """From an HF ``config.json`` dict or an original bert4torch T5 config.

        Args:
            data: The dict; unknown keys raise.
            overrides: Keyword options of ``build_transformer_model`` (they win).
            version: ``'t5.1.0'``, ``'t5.1.1'`` or ``'mt5.1.1'``; default: the class's, from the ``model=`` name.
                It chooses the FFN, tying and scaling when the config does not say (an original bert4torch config
                never does).
        """
        version = version or cls.default_version
        if version is not None and version not in _VERSIONS:
            raise ConfigError(f"unknown T5 version {version!r}; valid: {_VERSIONS}")
        data, model_type = _t5_spellings(data)
        over, _ = _t5_spellings(overrides or {})
        gated_default = version in ("t5.1.1", "mt5.1.1") or model_type in ("mt5", "umt5")
        view = {**data, **over}
        if "is_gated" not in view:
            data["is_gated"] = gated_default
        tie = view.get("tie_word_embeddings", not gated_default)
        data.setdefault("tie_word_embeddings", tie)
        if view.get("scale_decoder_outputs") is None:
            # mT5 and t5.1.1 never scale; t5.1.0 scales exactly when the head is tied
            data["scale_decoder_outputs"] = tie and not gated_default
        return parse_config(
            cls,
            data,
            over,
            aliases={
                "hidden_size": "d_model", "intermediate_size": "d_ff", "num_attention_heads": "num_heads",
                "attention_head_size": "d_kv", "num_hidden_layers": "num_layers", "hidden_dropout_prob": "dropout_rate",
                "pad_token_id": "token_pad_ids", "layer_norm_eps": "layer_norm_epsilon",
            },
            # keys of the original bert4torch T5 configs that do not change the network here
            ignored=frozenset({"max_position_embeddings", "max_position", "attention_probs_dropout_prob",
                               "type_vocab_size", "is_dropout"}),
            required_values={"attention_scale": False, "segment_vocab_size": 0},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def decoder_layers(self) -> int:
        """Decoder depth after applying the default."""
        return self.num_decoder_layers or self.num_layers


def _t5_spellings(config: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Turn HF's ``feed_forward_proj`` into our two fields and drop what transformers derives from it.

    Returns:
        The rewritten dict and the ``model_type`` it named (mT5 defaults to the gated FFN).
    """
    config = dict(config)
    config.pop("version", None)  # the original wrote model= into the config; the class's version wins
    model_type = config.pop("model_type", None)
    proj = config.pop("feed_forward_proj", None)
    if proj is not None:
        parts = proj.split("-")
        config.setdefault("is_gated", parts[0] == "gated")
        # transformers maps gated-gelu to the tanh GELU for backward compatibility; so do we
        config.setdefault("hidden_act", "gelu_new" if proj == "gated-gelu" else parts[-1])
    for derived in ("dense_act_fn", "is_gated_act"):
        config.pop(derived, None)
    return config, model_type


def t5_relative_position_bucket(
    relative_position: Tensor, bidirectional: bool, num_buckets: int, max_distance: int
) -> Tensor:
    """Map ``key_pos - query_pos`` to a bucket: exact for small distances, logarithmic up to ``max_distance``.

    Same arithmetic as Mesh TensorFlow / transformers, so bucket ids (and hence the learned biases) line up.
    """
    buckets = torch.zeros_like(relative_position)
    if bidirectional:
        num_buckets //= 2
        buckets += (relative_position > 0).long() * num_buckets
        relative_position = relative_position.abs()
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact
    large = max_exact + (
        torch.log(relative_position.float() / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).long()
    large = torch.min(large, torch.full_like(large, num_buckets - 1))
    return buckets + torch.where(is_small, relative_position, large)


class T5PositionBias(nn.Module):
    """Per-head learned bias over relative-position buckets (held once per stack)."""

    def __init__(self, config: T5Config, bidirectional: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(config.relative_attention_num_buckets, config.num_heads))
        self.bidirectional = bidirectional
        self.num_buckets = config.relative_attention_num_buckets
        self.max_distance = config.relative_attention_max_distance

    def forward(self, q_len: int, k_len: int) -> Tensor:
        """``[1, heads, q_len, k_len]`` bias; the queries are the last ``q_len`` of the ``k_len`` positions."""
        device = self.weight.device
        q_pos = torch.arange(k_len - q_len, k_len, device=device)[:, None]
        k_pos = torch.arange(k_len, device=device)[None, :]
        bucket = t5_relative_position_bucket(k_pos - q_pos, self.bidirectional, self.num_buckets, self.max_distance)
        return self.weight[bucket].permute(2, 0, 1).unsqueeze(0)


class T5FeedForward(nn.Module):
    """ReLU FFN (t5.1.0) or gated FFN (t5.1.1): ``outputDense(act(intermediateDense x) * intermediateDense1 x)``."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.intermediateDense = nn.Linear(config.d_model, config.d_ff, bias=False)
        self.intermediateDense1 = nn.Linear(config.d_model, config.d_ff, bias=False) if config.is_gated else None
        self.outputDense = nn.Linear(config.d_ff, config.d_model, bias=False)
        self.act = activation(config.hidden_act)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        """The FFN."""
        h = self.act(self.intermediateDense(x))
        if self.intermediateDense1 is not None:
            h = h * self.intermediateDense1(x)
        return self.outputDense(self.dropout(h))


def _attention(config: T5Config, cross: bool = False) -> CachedAttention:
    # T5 does not scale q.k: the 1/sqrt(d) is folded into the initialisation of q
    return CachedAttention(
        config.d_model, config.num_heads, config.d_kv, qkv_bias=False, o_bias=False, scale=1.0, cross=cross
    )


class T5EncoderLayer(nn.Module):
    """Pre-norm self-attention and FFN."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.layerNorm1 = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.multiHeadAttention = _attention(config)
        self.layerNorm2 = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.feedForward = T5FeedForward(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        """One block."""
        x = x + self.dropout(self.multiHeadAttention(self.layerNorm1(x), bias=bias)[0])
        return x + self.dropout(self.feedForward(self.layerNorm2(x)))


class T5DecoderLayer(nn.Module):
    """Pre-norm causal self-attention, cross-attention and FFN."""

    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.layerNorm1 = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.multiHeadAttention = _attention(config)
        self.crossLayerNorm = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.crossAttention = _attention(config, cross=True)
        self.layerNorm2 = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.feedForward = T5FeedForward(config)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self,
        x: Tensor,
        self_bias: Tensor,
        cross_bias: Tensor | None,
        encoder_hidden: Tensor | None,
        past_self: tuple[Tensor, Tensor] | None,
        past_cross: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
        """One block; returns the output and the new self- and cross-attention ``(key, value)``."""
        attn, self_kv = self.multiHeadAttention(self.layerNorm1(x), bias=self_bias, past=past_self)
        x = x + self.dropout(attn)
        attn, cross_kv = self.crossAttention(
            self.crossLayerNorm(x), bias=cross_bias, past=past_cross, source=encoder_hidden
        )
        x = x + self.dropout(attn)
        return x + self.dropout(self.feedForward(self.layerNorm2(x))), self_kv, cross_kv


class _WordEmbeddings(nn.Module):
    def __init__(self, config: T5Config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model)

    def forward(self, token_ids: Tensor) -> Tensor:
        return self.word_embeddings(token_ids)


def _mask_bias(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """``[batch, len]`` bool -> additive ``[batch, 1, 1, len]``."""
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    return torch.where(mask[:, None, None, :], zero, torch.finfo(dtype).min)


class _T5Base(DecoderBase):
    """What the three T5 classes share: config class, HF config, map depth."""

    config_class: ClassVar[type] = T5Config
    hf_model_type: ClassVar[str | None] = "t5"
    hf_architecture: ClassVar[str | None] = "T5ForConditionalGeneration"

    def layers_in_map(self) -> int:
        """The deeper of the two stacks."""
        return max(self.config.num_layers, self.config.decoder_layers)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.T5ForConditionalGeneration`` / ``MT5ForConditionalGeneration``."""
        c = self.config
        act = "gelu" if c.hidden_act == "gelu_new" and c.is_gated else c.hidden_act
        return {
            "vocab_size": c.vocab_size, "d_model": c.d_model, "d_kv": c.d_kv, "d_ff": c.d_ff,
            "num_layers": c.num_layers, "num_decoder_layers": c.decoder_layers, "num_heads": c.num_heads,
            "relative_attention_num_buckets": c.relative_attention_num_buckets,
            "relative_attention_max_distance": c.relative_attention_max_distance,
            "layer_norm_epsilon": c.layer_norm_epsilon, "dropout_rate": c.dropout_rate,
            "feed_forward_proj": f"gated-{act}" if c.is_gated else act,
            "tie_word_embeddings": c.tie_word_embeddings, "scale_decoder_outputs": c.scale_decoder_outputs,
            "pad_token_id": c.token_pad_ids, "decoder_start_token_id": c.token_pad_ids, "is_encoder_decoder": True,
        }


class T5Encoder(_T5Base):
    """The T5 encoder stack (``model='t5_encoder'`` etc.): ``[token_ids] -> hidden``."""

    hf_architecture: ClassVar[str | None] = "T5EncoderModel"

    def __init__(self, config: T5Config | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = t5_encoder_weight_map(config)
        self.embeddings = _WordEmbeddings(config)
        self.relative_position_bias = T5PositionBias(config, bidirectional=True)
        self.encoderLayer = nn.ModuleList(T5EncoderLayer(config) for _ in range(config.num_layers))
        self.final_layer_norm = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.dropout = nn.Dropout(config.dropout_rate)

    def tied_weights(self) -> dict[str, str]:
        """No tied parameters."""
        return {}

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None) -> Tensor:
        """Encode ``[token_ids]``; padding is ``token_pad_ids`` unless ``attention_mask`` (1 = real) is given."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        mask = attention_mask.bool() if attention_mask is not None else token_ids != self.config.token_pad_ids
        x = self.dropout(self.embeddings(token_ids))
        length = token_ids.shape[1]
        bias = self.relative_position_bias(length, length) + _mask_bias(mask, x.dtype)
        for layer in self.encoderLayer:
            x = layer(x, bias)
        return self.dropout(self.final_layer_norm(x))


class T5Decoder(_T5Base):
    """The T5 decoder stack with its LM head (``model='t5_decoder'`` etc.).

    ``forward([token_ids, encoder_hidden, encoder_mask])`` returns ``[hidden, logits]``; with a filled cache,
    ``encoder_hidden`` and ``encoder_mask`` may be None (the cross-attention keys/values and mask are cached).
    ``transformers`` has no decoder-only T5 class, so ``save_pretrained`` writes our own format.
    """

    hf_model_type: ClassVar[str | None] = None

    def __init__(self, config: T5Config | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.final_activation = config.final_activation
        self.weight_map = t5_decoder_weight_map(config)
        self.embeddings = _WordEmbeddings(config)
        self.relative_position_bias = T5PositionBias(config, bidirectional=False)
        self.decoderLayer = nn.ModuleList(T5DecoderLayer(config) for _ in range(config.decoder_layers))
        self.final_layer_norm = RMSNorm(config.d_model, config.layer_norm_epsilon)
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embeddings.word_embeddings.weight
        self.dropout = nn.Dropout(config.dropout_rate)

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` of parameters sharing storage."""
        return {"lm_head.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Decode ``[token_ids, encoder_hidden, encoder_mask]``.

        Args:
            inputs: Decoder ids ``[batch, len]``, the encoder output and its ``[batch, src_len]`` mask (1 = real).
            attention_mask: Optional ``[batch, len]`` mask of real decoder tokens (left padding); by default none
                is padding, because T5 starts decoding with the padding id.
            past_key_values: Cache from a previous call.
            use_cache: Also return the new cache.

        Returns:
            ``[hidden, logits]``, and the new cache when ``use_cache``.
        """
        token_ids, encoder_hidden, encoder_mask = unpack_inputs(inputs, ("token_ids", "encoder_hidden", "encoder_mask"))
        past = past_key_values if past_key_values is not None and past_key_values.seq_len else None
        x = self.dropout(self.embeddings(token_ids))
        dtype = x.dtype
        mask = attention_mask.bool() if attention_mask is not None else torch.ones_like(token_ids, dtype=torch.bool)
        key_mask = mask if past is None else torch.cat([past.key_mask, mask], dim=1)
        q_len, k_len = token_ids.shape[1], key_mask.shape[1]
        self_bias = self.relative_position_bias(q_len, k_len)
        causal_mask, _ = attention_bias(key_mask, q_len, causal=True, dtype=dtype)
        if causal_mask is None and q_len > 1:
            # the position bias forces an explicit mask: SDPA's is_causal cannot be combined with a bias
            causal_mask = causal_bias_for(q_len, k_len, dtype, x.device)
        if causal_mask is not None:
            self_bias = self_bias + causal_mask
        if past is not None and past.encoder_mask is not None:
            enc_mask = past.encoder_mask
        elif encoder_mask is not None:
            enc_mask = encoder_mask.bool()
        else:
            if encoder_hidden is None:
                raise ValueError("the decoder needs encoder_hidden (or a cache holding its projection)")
            enc_mask = torch.ones(encoder_hidden.shape[:2], dtype=torch.bool, device=x.device)
        cross_bias = None if bool(enc_mask.all()) else _mask_bias(enc_mask, dtype)
        self_kv, cross_kv = [], []
        for i, layer in enumerate(self.decoderLayer):
            x, skv, ckv = layer(
                x, self_bias, cross_bias, encoder_hidden,
                past.self_attn[i] if past is not None else None,
                past.cross_attn[i] if past is not None else None,
            )
            self_kv.append(skv)
            cross_kv.append(ckv)
        hidden = self.dropout(self.final_layer_norm(x))
        head_in = hidden * self.config.d_model**-0.5 if self.config.scale_decoder_outputs else hidden
        logits = output_activation(self.lm_head(head_in), self.final_activation)
        if not use_cache:
            return [hidden, logits]
        cache = KVCache(self_attn=tuple(self_kv), cross_attn=tuple(cross_kv), key_mask=key_mask, encoder_mask=enc_mask)
        return [hidden, logits], cache


class T5(_T5Base):
    """T5 encoder-decoder: ``model([[encoder_ids], [decoder_ids]]) -> [encoder_hidden, decoder_hidden, logits]``.

    Args:
        config: A :class:`T5Config`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    def __init__(self, config: T5Config | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = t5_weight_map(config)
        self.encoder = T5Encoder(config)
        self.decoder = T5Decoder(config)
        # one shared embedding, as in every T5 checkpoint
        self.decoder.embeddings.word_embeddings.weight = self.encoder.embeddings.word_embeddings.weight
        if config.tie_word_embeddings:
            self.decoder.lm_head.weight = self.encoder.embeddings.word_embeddings.weight

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` of parameters sharing storage."""
        owner = "encoder.embeddings.word_embeddings.weight"
        tied = {"decoder.embeddings.word_embeddings.weight": owner}
        if self.config.tie_word_embeddings:
            tied["decoder.lm_head.weight"] = owner
        return tied

    def forward(
        self,
        *inputs: Any,
        encoder_attention_mask: Tensor | None = None,
        decoder_attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Run ``[[encoder inputs], [decoder inputs]]`` (see the module docstring for the cached form)."""
        encoder_inputs, decoder_inputs = unpack_inputs(inputs, ("encoder_inputs", "decoder_inputs"))
        cached = past_key_values is not None and past_key_values.seq_len > 0
        if cached:
            encoder_hidden, encoder_mask = None, None
        else:
            (enc_ids,) = unpack_inputs(encoder_inputs, ("token_ids",))
            encoder_mask = (
                encoder_attention_mask.bool() if encoder_attention_mask is not None
                else enc_ids != self.config.token_pad_ids
            )
            encoder_hidden = self.encoder([enc_ids], attention_mask=encoder_mask)
        (dec_ids,) = unpack_inputs(decoder_inputs, ("token_ids",))
        result = self.decoder(
            [dec_ids, encoder_hidden, encoder_mask], attention_mask=decoder_attention_mask,
            past_key_values=past_key_values, use_cache=use_cache,
        )
        decoded, cache = result if use_cache else (result, None)
        outputs = [t for t in [encoder_hidden, *decoded] if t is not None]
        return (outputs, cache) if use_cache else outputs


# HF T5ForConditionalGeneration key -> our name. `{}` is the block index; the literal `layer.0`/`layer.1`/`layer.2`
# after it are sub-layer positions, not indices (the shared helper templates only the first number).
_T5_COMMON_MAP: dict[str, str | None] = {
    "shared.weight": "encoder.embeddings.word_embeddings.weight",
    "encoder.embed_tokens.weight": "encoder.embeddings.word_embeddings.weight",
    "decoder.embed_tokens.weight": "decoder.embeddings.word_embeddings.weight",
    "encoder.block.{}.layer.0.SelfAttention.relative_attention_bias.weight": "encoder.relative_position_bias.weight",
    "encoder.block.{}.layer.0.SelfAttention.q.weight": "encoder.encoderLayer.{}.multiHeadAttention.q.weight",
    "encoder.block.{}.layer.0.SelfAttention.k.weight": "encoder.encoderLayer.{}.multiHeadAttention.k.weight",
    "encoder.block.{}.layer.0.SelfAttention.v.weight": "encoder.encoderLayer.{}.multiHeadAttention.v.weight",
    "encoder.block.{}.layer.0.SelfAttention.o.weight": "encoder.encoderLayer.{}.multiHeadAttention.o.weight",
    "encoder.block.{}.layer.0.layer_norm.weight": "encoder.encoderLayer.{}.layerNorm1.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wo.weight": "encoder.encoderLayer.{}.feedForward.outputDense.weight",
    "encoder.block.{}.layer.1.layer_norm.weight": "encoder.encoderLayer.{}.layerNorm2.weight",
    "encoder.final_layer_norm.weight": "encoder.final_layer_norm.weight",
    "decoder.block.{}.layer.0.SelfAttention.relative_attention_bias.weight": "decoder.relative_position_bias.weight",
    "decoder.block.{}.layer.0.SelfAttention.q.weight": "decoder.decoderLayer.{}.multiHeadAttention.q.weight",
    "decoder.block.{}.layer.0.SelfAttention.k.weight": "decoder.decoderLayer.{}.multiHeadAttention.k.weight",
    "decoder.block.{}.layer.0.SelfAttention.v.weight": "decoder.decoderLayer.{}.multiHeadAttention.v.weight",
    "decoder.block.{}.layer.0.SelfAttention.o.weight": "decoder.decoderLayer.{}.multiHeadAttention.o.weight",
    "decoder.block.{}.layer.0.layer_norm.weight": "decoder.decoderLayer.{}.layerNorm1.weight",
    "decoder.block.{}.layer.1.EncDecAttention.q.weight": "decoder.decoderLayer.{}.crossAttention.q.weight",
    "decoder.block.{}.layer.1.EncDecAttention.k.weight": "decoder.decoderLayer.{}.crossAttention.k.weight",
    "decoder.block.{}.layer.1.EncDecAttention.v.weight": "decoder.decoderLayer.{}.crossAttention.v.weight",
    "decoder.block.{}.layer.1.EncDecAttention.o.weight": "decoder.decoderLayer.{}.crossAttention.o.weight",
    "decoder.block.{}.layer.1.layer_norm.weight": "decoder.decoderLayer.{}.crossLayerNorm.weight",
    "decoder.block.{}.layer.2.DenseReluDense.wo.weight": "decoder.decoderLayer.{}.feedForward.outputDense.weight",
    "decoder.block.{}.layer.2.layer_norm.weight": "decoder.decoderLayer.{}.layerNorm2.weight",
    "decoder.final_layer_norm.weight": "decoder.final_layer_norm.weight",
    "lm_head.weight": "decoder.lm_head.weight",
    # transformers documents this key as unused (cross-attention has no position bias)
    "decoder.block.{}.layer.1.EncDecAttention.relative_attention_bias.weight": None,
}


# t5.1.0: one ReLU input projection `wi`.
T5_WEIGHT_MAP: dict[str, str | None] = {
    **_T5_COMMON_MAP,
    "encoder.block.{}.layer.1.DenseReluDense.wi.weight": "encoder.encoderLayer.{}.feedForward.intermediateDense.weight",
    "decoder.block.{}.layer.2.DenseReluDense.wi.weight": "decoder.decoderLayer.{}.feedForward.intermediateDense.weight",
}

# t5.1.1 / mT5 / t5_pegasus: gated input projections `wi_0` (activated) and `wi_1` (linear).
T5_GATED_WEIGHT_MAP: dict[str, str | None] = {
    **_T5_COMMON_MAP,
    "encoder.block.{}.layer.1.DenseReluDense.wi_0.weight": "encoder.encoderLayer.{}.feedForward.intermediateDense.weight",
    "encoder.block.{}.layer.1.DenseReluDense.wi_1.weight": "encoder.encoderLayer.{}.feedForward.intermediateDense1.weight",
    "decoder.block.{}.layer.2.DenseReluDense.wi_0.weight": "decoder.decoderLayer.{}.feedForward.intermediateDense.weight",
    "decoder.block.{}.layer.2.DenseReluDense.wi_1.weight": "decoder.decoderLayer.{}.feedForward.intermediateDense1.weight",
}


def t5_weight_map(config: T5Config) -> dict[str, str | None]:
    """The weight map of the full model for ``config`` (gated or not)."""
    return T5_GATED_WEIGHT_MAP if config.is_gated else T5_WEIGHT_MAP


def _sub_map(full: Mapping[str, str | None], prefix: str) -> dict[str, str | None]:
    """The part of a full T5 map that lands under ``prefix`` (for the standalone encoder/decoder)."""
    out: dict[str, str | None] = {}
    for key, target in full.items():
        if target is None:
            if key.startswith(prefix):
                out[key] = None
        elif target.startswith(prefix):
            out[key] = target[len(prefix):]
        elif key == "shared.weight":
            out[key] = "embeddings.word_embeddings.weight"
        else:
            out[key] = None  # the other stack's weights: known, not built here
    return out


def t5_encoder_weight_map(config: T5Config) -> dict[str, str | None]:
    """Weight map of the standalone encoder, derived from the full map (never written twice)."""
    return _sub_map(t5_weight_map(config), "encoder.")


def t5_decoder_weight_map(config: T5Config) -> dict[str, str | None]:
    """Weight map of the standalone decoder, derived from the full map."""
    return _sub_map(t5_weight_map(config), "decoder.")


# --- the `model=` names: one class per version so the name alone chooses the FFN, tying and scaling -----------------


class T5v11Config(T5Config):
    """Config of ``model='t5.1.1'`` (gated FFN, untied head, no scaling unless the config says otherwise)."""

    default_version: ClassVar[str | None] = "t5.1.1"


class MT5v11Config(T5Config):
    """Config of ``model='mt5.1.1'`` (mT5, t5_pegasus)."""

    default_version: ClassVar[str | None] = "mt5.1.1"


# `model=` name -> class: (class name, base, config, HF model_type and architecture when they differ from the base)
_PRESETS: tuple[tuple[str, type, type, tuple[str, str] | None], ...] = (
    ("T5v11", T5, T5v11Config, None),
    ("MT5v11", T5, MT5v11Config, ("mt5", "MT5ForConditionalGeneration")),
    ("T5v11Encoder", T5Encoder, T5v11Config, None),
    # gated, unlike the original, whose name check missed the suffix
    ("MT5v11Encoder", T5Encoder, MT5v11Config, ("mt5", "MT5EncoderModel")),
    ("T5v11Decoder", T5Decoder, T5v11Config, None),
    ("MT5v11Decoder", T5Decoder, MT5v11Config, None),
)
for _name, _base, _config, _hf in _PRESETS:
    _attrs: dict[str, Any] = {"__module__": __name__, "__qualname__": _name, "config_class": _config,
                              "__doc__": f"{_base.__name__} preset with {_config.__name__} ({_config.__doc__})"}
    if _hf is not None:
        _attrs.update(hf_model_type=_hf[0], hf_architecture=_hf[1])
    globals()[_name] = type(_name, (_base,), _attrs)
