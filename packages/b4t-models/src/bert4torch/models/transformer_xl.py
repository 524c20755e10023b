"""Transformer-XL (``model='transformer_xl'``): causal relative attention, with the KV cache as its memory.

``transformers`` v5 no longer ships Transformer-XL, so the equations are written here and checked against an
independent implementation (``tools/models_decoder_goldens.py``, which follows the original code's ``rel_shift``
formulation) through golden outputs in ``tests/assets/models/decoder_transformer_xl``::

    x = word[ids] * sqrt(d_model)
    for each layer:  q, k, v = x Wq, x Wk, x Wv ; R = sinusoid(distance) Wr
                     score[i, j] = ((q_i + r_w_bias) . k_j + (q_i + r_r_bias) . R[i - j]) / sqrt(d_head),  j <= i
                     x = LN1(x + softmax(score) v Wo) ;  x = LN2(x + FFN(x))
    logits = x W_head^T + b

Transformer-XL's segment-level recurrence (``mems``) is exactly a cache of past keys and values, so the standard
:class:`~bert4torch.models._cache.KVCache` serves as its memory: step-by-step decoding equals the full forward.
What is implemented is the common configuration (post-LN, ``attn_type='uni'``, plain embeddings, tied or untied
relative biases); adaptive embeddings/softmax (``cutoffs``, ``div_val != 1``), ``same_length`` and ``pre_lnorm``
are rejected with a clear error instead of being silently ignored. Weights use our own parameter names (the
original also loaded only converted files).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bert4torch.layers import LayerNorm, MultiHeadAttentionLayer, PositionWiseFeedForward, sinusoid

from ._config import ConfigError, DecoderConfig
from ._decoder import CausalLM, DecoderStep, decoder_embeddings

__all__ = ["TransformerXLConfig", "Transformer_XL"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerXLConfig(DecoderConfig):
    """Transformer-XL hyper-parameters (original bert4torch names; HF ``TransfoXLConfig`` names are aliases)."""

    attention_head_size: int | None = None  # width of one head (HF d_head); None = hidden_size // heads
    hidden_act: str = "relu"  # FFN activation
    clamp_len: int = -1  # clamp relative distances beyond this (-1: no clamp)
    untie_r: bool = True  # per-layer relative biases; False shares one pair across layers (the original's default)
    mem_len: int = 0  # the original's memory length; the KV cache keeps every past position

    aliases: ClassVar[dict[str, str]] = {
        "d_model": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
        "d_inner": "intermediate_size", "d_head": "attention_head_size", "dropout": "dropout_rate",
        "dropatt": "attention_probs_dropout_prob", "n_token": "vocab_size", "init_std": "initializer_range",
    }
    ignored: ClassVar[frozenset[str]] = frozenset({
        "init", "init_range", "proj_init_std", "ext_len", "tgt_len", "eval_tgt_len", "sample_softmax",
        "proj_share_all_but_first", "adaptive", "with_lm", "segment_vocab_size", "type_vocab_size", "tie_projs"})
    checked: ClassVar[dict[str, tuple]] = {"attn_type": (0,), "same_length": (False,), "pre_lnorm": (False,),
                                           "div_val": (1,)}
    inert: ClassVar[dict[str, Any]] = {"mem_len": 0}

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        return _drop_plain_adaptive(data)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("attention_head_size", self.attention_head_size or self.hidden_size // self.num_attention_heads)


def _drop_plain_adaptive(config: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the adaptive-embedding keys only in their plain form (no cutoffs, d_embed == d_model)."""
    config = dict(config)
    cutoffs = config.pop("cutoffs", None)
    if cutoffs:
        raise ConfigError(f"TransformerXLConfig: adaptive embeddings (cutoffs={cutoffs}) are not supported")
    d_embed = config.pop("d_embed", None)
    width = config.get("hidden_size", config.get("d_model"))
    if d_embed is not None and width is not None and d_embed != width:
        raise ConfigError("TransformerXLConfig: d_embed != d_model (a projected embedding) is not supported")
    if config.get("attn_type") == "uni":
        config["attn_type"] = 0  # the original's two spellings of the causal form
    return config


class TransformerXLLayer(nn.Module):
    """Relative causal attention, then the FFN, each normalised after its residual by a LayerNorm the checkpoint
    keeps inside the block (``multiHeadAttention.layerNorm``, ``feedForward.layerNorm``)."""

    def __init__(self, config: TransformerXLConfig) -> None:
        super().__init__()
        c = config
        self.multiHeadAttention = MultiHeadAttentionLayer(
            c.hidden_size, c.num_attention_heads, c.attention_probs_dropout_prob, bias=False,
            attention_head_size=c.attention_head_size, p_bias="transformer_xl", own_relative_biases=c.untie_r)
        self.multiHeadAttention.layerNorm = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.feedForward = PositionWiseFeedForward(c.hidden_size, c.intermediate_size, c.dropout_rate, c.hidden_act,
                                                   is_dropout=True)
        self.feedForward.layerNorm = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, x: Tensor, attention_mask: Tensor | None = None, *, past_key_value: Any = None,
                relative: tuple[Tensor, ...], **_: Any) -> tuple[Tensor, tuple[Tensor, Tensor], None]:
        """One layer; returns the output, the new ``(key, value)`` and no cross-attention cache."""
        attn, ffn = self.multiHeadAttention, self.feedForward
        out, kv = attn(x, attention_mask, relative=relative, past_key_value=past_key_value, use_cache=True)
        x = attn.layerNorm(x + self.dropout(out))
        return ffn.layerNorm(x + self.dropout(ffn(x))), kv, None


class Transformer_XL(CausalLM, config=TransformerXLConfig):  # noqa: N801 - the original's public name
    """Transformer-XL language model (``model='transformer_xl'``) with the cache protocol of ``_cache.py``.

    Args:
        config: A :class:`TransformerXLConfig`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    layers_name, final_name, head_name = "encoderLayer", "dropout", "dense"

    def build(self) -> None:
        c = self.config
        self.embeddings = decoder_embeddings(c, position_type=None, word_scale=math.sqrt(c.hidden_size))
        if not c.untie_r:  # one pair of relative biases for every layer
            self.r_w_bias = nn.Parameter(torch.zeros(c.num_attention_heads, c.attention_head_size))
            self.r_r_bias = nn.Parameter(torch.zeros(c.num_attention_heads, c.attention_head_size))
        self.encoderLayer = nn.ModuleList(TransformerXLLayer(c) for _ in range(c.num_hidden_layers))
        self.dense = nn.Linear(c.hidden_size, c.vocab_size)
        self.dropout = nn.Dropout(c.dropout_rate)

    def layer_inputs(self, step: DecoderStep, x: Tensor) -> dict[str, Any]:
        """The causal mask written out (relative scores are added by hand) and the sinusoid of the distances
        ``0..k_len-1`` (clamped at ``clamp_len``), with the shared relative biases when ``untie_r=False``."""
        c = self.config
        distances = torch.arange(step.key_mask.shape[1], device=x.device)
        if c.clamp_len > 0:
            distances = distances.clamp(max=c.clamp_len)
        relative = (self.dropout(sinusoid(distances, c.hidden_size, interleaved=False).to(x.dtype)),)
        if not c.untie_r:
            relative += (self.r_w_bias, self.r_r_bias)
        return {"attention_mask": step.explicit_bias(x.dtype), "relative": relative}

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init plus normal(0, initializer_range) relative biases."""
        super().init_model_weights(module)
        for name in ("r_w_bias", "r_r_bias"):
            p = module._parameters.get(name)
            if p is not None and not p.is_meta:
                nn.init.normal_(p, std=self.config.initializer_range)
