"""DeBERTa-v2: disentangled attention (content-to-position and position-to-content terms), log-bucketed relative
positions shared across layers, an optional convolution after the first layer, and masked embeddings.

Checkpoint layout: HF ``DebertaV2ForMaskedLM`` with the legacy head (``deberta.*``, ``cls.predictions.*``).
Attention scores are ``(q·k + c2p + p2c) / sqrt(d * (1 + #terms))``; the position terms are computed explicitly and
handed to SDPA as an additive bias, so the softmax/value product still runs in the fused kernel.
Reference: transformers ``models/deberta_v2/modeling_deberta_v2.py`` (He et al. 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bert4torch.layers import ConvLayer, LayerNorm, RelativePositionsEncodingDebertaV2, uninitialized_embedding

from ._config import EncoderConfig
from ._encoder import EmbeddingOutput
from .bert import BERT, bert_weight_map

__all__ = ["DEBERTA_V2_WEIGHT_MAP", "DebertaV2", "DebertaV2Config"]


@dataclass(frozen=True, kw_only=True)
class DebertaV2Config(EncoderConfig):
    """DeBERTa-v2 options (HF names)."""

    relative_attention: bool = False  # use the disentangled position terms
    max_relative_positions: int = -1  # relative span; < 1 means max_position
    position_buckets: int = -1  # log buckets (> 0) or exact distances
    pos_att_type: list[str] | str | None = None  # subset of ['c2p', 'p2c'] (HF also writes 'c2p|p2c')
    norm_rel_ebd: str = "none"  # 'layer_norm' normalises the relative embedding table
    share_att_key: bool = False  # position projections reuse query/key projections
    conv_kernel_size: int = 0  # > 0: ConvLayer after the first layer
    conv_groups: int = 1  # groups of that convolution
    conv_act: str = "tanh"  # its activation
    position_biased_input: bool = True  # add absolute position embeddings to the input
    ignored: ClassVar[frozenset[str]] = frozenset({"pooler_dropout", "pooler_hidden_act", "pooler_hidden_size"})
    checked: ClassVar[dict[str, tuple]] = {"legacy": (True,), "z_steps": (0,)}

    def attention_types(self) -> list[str]:
        """The position terms in use (none without ``relative_attention``)."""
        value = (self.pos_att_type or []) if self.relative_attention else []
        if isinstance(value, str):
            value = [x.strip() for x in value.lower().split("|") if x.strip()]
        return list(value)

    @property
    def max_relative(self) -> int:
        """The relative span after applying the default."""
        return self.max_relative_positions if self.max_relative_positions >= 1 else self.max_position

    @property
    def attention_span(self) -> int:
        """Rows of each half of the relative embedding table."""
        return self.position_buckets if self.position_buckets > 0 else self.max_relative


_P = "deberta.encoder.layer.{}."
DEBERTA_V2_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k.replace("attention.self.query.", "attention.self.query_proj.")
        .replace("attention.self.key.", "attention.self.key_proj.")
        .replace("attention.self.value.", "attention.self.value_proj."): v
       for k, v in bert_weight_map("deberta").items() if "pooler" not in k and "seq_relationship" not in k},
    # the original's convert script (convert_deberta_v2.py) renames query_proj/key_proj/value_proj to BERT's names
    **{_P + f"attention.self.{name}.{leaf}": f"encoderLayer.{{}}.multiHeadAttention.{name[0]}.{leaf}"
       for name in ("query", "key", "value") for leaf in ("weight", "bias")},
    _P + "attention.self.pos_key_proj.weight": "encoderLayer.{}.multiHeadAttention.pos_key_proj.weight",
    _P + "attention.self.pos_key_proj.bias": "encoderLayer.{}.multiHeadAttention.pos_key_proj.bias",
    _P + "attention.self.pos_query_proj.weight": "encoderLayer.{}.multiHeadAttention.pos_query_proj.weight",
    _P + "attention.self.pos_query_proj.bias": "encoderLayer.{}.multiHeadAttention.pos_query_proj.bias",
    "deberta.embeddings.embed_proj.weight": "embeddings.embed_proj.weight",
    "deberta.encoder.rel_embeddings.weight": "rel_embeddings.weight",
    "deberta.encoder.LayerNorm.weight": "rel_layerNorm.weight",
    "deberta.encoder.LayerNorm.bias": "rel_layerNorm.bias",
    "deberta.encoder.conv.conv.weight": "conv.conv.weight",
    "deberta.encoder.conv.conv.bias": "conv.conv.bias",
    "deberta.encoder.conv.LayerNorm.weight": "conv.layerNorm.weight",
    "deberta.encoder.conv.LayerNorm.bias": "conv.layerNorm.bias",
    "lm_predictions.lm_head.dense.weight": "mlmDense.weight",  # the non-legacy head: same modules
    "lm_predictions.lm_head.dense.bias": "mlmDense.bias",
    "lm_predictions.lm_head.LayerNorm.weight": "mlmLayerNorm.weight",
    "lm_predictions.lm_head.LayerNorm.bias": "mlmLayerNorm.bias",
    "lm_predictions.lm_head.bias": "mlmBias",
    "mask_predictions.dense.weight": None,  # replaced-token head of some releases: not built
    "mask_predictions.dense.bias": None,
    "mask_predictions.LayerNorm.weight": None,
    "mask_predictions.LayerNorm.bias": None,
    "mask_predictions.classifier.weight": None,
    "mask_predictions.classifier.bias": None,
}


class DebertaV2Embeddings(nn.Module):
    """word (+ position) + segment, optional bias-free ``embed_proj``, LayerNorm, padding zeroed, dropout."""

    def __init__(self, config: DebertaV2Config) -> None:
        super().__init__()
        c = config
        self.token_pad_ids = c.token_pad_ids
        self.word_embeddings = uninitialized_embedding(c.effective_vocab_size, c.embedding_size)
        self.position_embeddings = (uninitialized_embedding(c.max_position, c.embedding_size)
                                    if c.position_biased_input else None)
        self.segment_embeddings = (uninitialized_embedding(c.segment_vocab_size, c.embedding_size)
                                   if c.segment_vocab_size > 0 else None)
        grow = c.embedding_size != c.hidden_size
        self.embed_proj = nn.Linear(c.embedding_size, c.hidden_size, bias=False) if grow else None
        self.layerNorm = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.dropout_rate)

    def forward(self, token_ids: torch.Tensor, segment_ids: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, conditional_emb: torch.Tensor | None = None,
                additional_embs: list[torch.Tensor] | None = None) -> torch.Tensor:
        emb = token_ids if token_ids.is_floating_point() else self.word_embeddings(token_ids)
        if self.position_embeddings is not None:
            emb = emb + (self.position_embeddings.weight[: emb.shape[1]] if position_ids is None
                         else self.position_embeddings(position_ids))
        if self.segment_embeddings is not None:
            segments = self.segment_embeddings
            emb = emb + (segments.weight[0] if segment_ids is None else segments(segment_ids))
        for extra in additional_embs or []:
            emb = emb + extra
        if self.embed_proj is not None:
            emb = self.embed_proj(emb)
        emb = self.layerNorm(emb if conditional_emb is None else (emb, conditional_emb))
        if not token_ids.is_floating_point():  # padding is zeroed, as in transformers (the conv sees it)
            emb = emb * (token_ids != self.token_pad_ids).unsqueeze(-1).to(emb.dtype)
        return self.dropout(emb)


class DebertaV2(BERT, config=DebertaV2Config, prefix="deberta", weight_map=DEBERTA_V2_WEIGHT_MAP,
                hf_model_type="deberta-v2", hf_architecture="DebertaV2ForMaskedLM"):
    """DeBERTa-v2 (``model='deberta_v2'``)."""

    def build(self) -> None:
        super().build()
        c = self.config
        if c.relative_attention:
            self.rel_embeddings = uninitialized_embedding(2 * c.attention_span, c.hidden_size)
            if "layer_norm" in c.norm_rel_ebd.lower():
                self.rel_layerNorm = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
            self.relative_positions = RelativePositionsEncodingDebertaV2(0, 0, c.position_buckets, c.max_relative)
        if c.conv_kernel_size > 0:
            self.conv = ConvLayer(c.hidden_size, c.dropout_rate, c.layer_norm_eps, c.conv_kernel_size, c.conv_groups,
                                  c.conv_act)

    def build_embeddings(self) -> nn.Module:
        return DebertaV2Embeddings(self.config)

    def layer_kwargs(self) -> dict[str, Any]:
        types = self.config.attention_types()
        # scores are (q.k + c2p + p2c) / sqrt(d * (1 + #terms))
        options = {"attention_head_size": self.attention_head_size, "layer_norm_eps": self.layer_norm_eps,
                   "scale": 1.0 / math.sqrt(self.attention_head_size * (1 + len({"c2p", "p2c"} & set(types))))}
        if self.relative_attention:
            options.update(p_bias="deberta", pos_att_type=types, share_att_key=self.share_att_key)
        return options

    def apply_embeddings(self, inputs: Any) -> EmbeddingOutput:
        out = super().apply_embeddings(inputs)
        token_ids = self._split_inputs(inputs)["token_ids"]
        out.token_keep = None if token_ids.is_floating_point() else token_ids != self.token_pad_ids  # the conv's
        return out

    def layer_extras(self, inputs: list[Any]) -> dict[str, Any]:
        if not self.relative_attention:
            return {}
        rel = self.rel_embeddings.weight
        if "layer_norm" in self.norm_rel_ebd.lower():
            rel = self.rel_layerNorm(rel)
        n = inputs[0].shape[1]
        return {"relative": (rel, self.relative_positions(n, n, inputs[0].device)[0])}

    def after_layer(self, l_i: int, hidden: torch.Tensor, inputs: list[Any]) -> torch.Tensor:
        if l_i == 0 and self.conv_kernel_size > 0:
            return self.conv(inputs[0], hidden, getattr(inputs, "token_keep", None))
        return hidden

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        del config["position_embedding_type"]
        c = self.config
        fields = ("relative_attention", "max_relative_positions", "position_buckets", "norm_rel_ebd", "share_att_key",
                  "conv_kernel_size", "conv_groups", "conv_act", "position_biased_input", "embedding_size")
        return {**config, **{f: getattr(c, f) for f in fields}, "pos_att_type": c.attention_types(), "legacy": True}
