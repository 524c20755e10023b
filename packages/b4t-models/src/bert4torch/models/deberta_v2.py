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
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from bert4torch.layers import BertLayer, ConvLayer, LayerNorm, MultiHeadAttentionLayer, RelativePositionsEncodingDebertaV2

from bert4torch.layers._transformer import uninitialized_embedding

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["DEBERTA_V2_WEIGHT_MAP", "DebertaV2", "DebertaV2Config"]


@dataclass(kw_only=True)
class DebertaV2Config(EncoderConfig):
    """DeBERTa-v2 options (HF names)."""

    hidden_act: str = "gelu"
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
    hf_ignored: ClassVar[frozenset[str]] = frozenset({"pooler_dropout", "pooler_hidden_act", "pooler_hidden_size"})
    checked: ClassVar[dict[str, tuple]] = {"legacy": (True,), "z_steps": (0,)}

    def attention_types(self) -> list[str]:
        value = self.pos_att_type or []
        if isinstance(value, str):
            value = [x.strip() for x in value.lower().split("|") if x.strip()]
        return list(value)


_P = "deberta.encoder.layer.{}."
DEBERTA_V2_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k.replace("attention.self.query.", "attention.self.query_proj.")
        .replace("attention.self.key.", "attention.self.key_proj.")
        .replace("attention.self.value.", "attention.self.value_proj."): v
       for k, v in bert_weight_map("deberta").items() if "pooler" not in k and "seq_relationship" not in k},
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
    """word (+ position) + segment, optional bias-free ``embed_proj``, LayerNorm, dropout (mask applied by the model)."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, max_position: int, segment_vocab_size: int,
                 dropout_rate: float, layer_norm_eps: float, position_biased_input: bool) -> None:
        super().__init__()
        self.word_embeddings = uninitialized_embedding(vocab_size, embedding_size)
        self.position_embeddings = uninitialized_embedding(max_position, embedding_size) if position_biased_input else None
        self.segment_embeddings = uninitialized_embedding(segment_vocab_size, embedding_size) if segment_vocab_size > 0 else None
        self.embed_proj = nn.Linear(embedding_size, hidden_size, bias=False) if embedding_size != hidden_size else None
        self.layerNorm = LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout_rate)

    def forward(self, token_ids: torch.Tensor, segment_ids: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                conditional_emb: torch.Tensor | None = None, additional_embs: list[torch.Tensor] | None = None) -> torch.Tensor:
        emb = token_ids if token_ids.is_floating_point() else self.word_embeddings(token_ids)
        if self.position_embeddings is not None:
            if position_ids is None:
                emb = emb + self.position_embeddings.weight[: emb.shape[1]].unsqueeze(0)
            else:
                emb = emb + self.position_embeddings(position_ids)
        if self.segment_embeddings is not None:
            if segment_ids is None:
                segment_ids = torch.zeros(emb.shape[:2], dtype=torch.long, device=emb.device)
            emb = emb + self.segment_embeddings(segment_ids)
        for extra in additional_embs or []:
            emb = emb + extra
        if self.embed_proj is not None:
            emb = self.embed_proj(emb)
        return self.layerNorm((emb, conditional_emb))


class DisentangledAttention(MultiHeadAttentionLayer):
    """DeBERTa-v2 self-attention: q/k/v/o plus (unless ``share_att_key``) ``pos_key_proj``/``pos_query_proj``."""

    def __init__(self, hidden_size: int, num_attention_heads: int, attention_probs_dropout_prob: float, dropout_rate: float,
                 *, pos_att_type: list[str], share_att_key: bool, att_span: int, attention_head_size: int | None = None) -> None:
        super().__init__(hidden_size, num_attention_heads, attention_probs_dropout_prob, dropout_rate,
                         attention_head_size=attention_head_size)
        self.pos_att_type = pos_att_type
        self.share_att_key = share_att_key
        self.att_span = att_span
        inner = num_attention_heads * self.attention_head_size
        if not share_att_key:
            if "c2p" in pos_att_type:
                self.pos_key_proj = nn.Linear(hidden_size, inner)
            if "p2c" in pos_att_type:
                self.pos_query_proj = nn.Linear(hidden_size, inner)
        self.pos_dropout = nn.Dropout(dropout_rate)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,  # type: ignore[override]
                rel_embeddings: torch.Tensor | None = None, relative_pos: torch.Tensor | None = None) -> torch.Tensor:
        b, n, _ = hidden_states.shape
        h, d = self.num_attention_heads, self.attention_head_size
        q = self._heads(self.q(hidden_states), d)
        k = self._heads(self.k(hidden_states), d)
        v = self._heads(self.v(hidden_states), d)
        scale_factor = 1 + ("c2p" in self.pos_att_type) + ("p2c" in self.pos_att_type)
        scale = 1.0 / math.sqrt(d * scale_factor)
        bias = attention_mask
        if rel_embeddings is not None and self.pos_att_type:
            rel = self.pos_dropout(rel_embeddings[: 2 * self.att_span])
            span = self.att_span
            rel_pos = relative_pos.to(torch.long)  # [q, k]
            score = 0.0
            if "c2p" in self.pos_att_type:
                pos_key = (self.k if self.share_att_key else self.pos_key_proj)(rel).view(-1, h, d).transpose(0, 1)  # [h, 2S, d]
                c2p = torch.matmul(q, pos_key.transpose(-1, -2))  # [b, h, q, 2S]
                index = torch.clamp(rel_pos + span, 0, 2 * span - 1).expand(b, h, n, n)
                score = score + torch.gather(c2p, -1, index)
            if "p2c" in self.pos_att_type:
                pos_query = (self.q if self.share_att_key else self.pos_query_proj)(rel).view(-1, h, d).transpose(0, 1)
                p2c = torch.matmul(k, pos_query.transpose(-1, -2))  # [b, h, k, 2S]
                index = torch.clamp(-rel_pos + span, 0, 2 * span - 1).expand(b, h, n, n)
                score = score + torch.gather(p2c, -1, index).transpose(-1, -2)
            score = score * scale
            bias = score if bias is None else bias + score
        context = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attention_probs_dropout_prob if self.training else 0.0, scale=scale
        )
        return self.o(context.transpose(1, 2).reshape(b, n, -1))


class DebertaV2Layer(BertLayer):
    """Post-LN layer whose attention is :class:`DisentangledAttention`."""

    def __init__(self, *args: Any, pos_att_type: list[str], share_att_key: bool, att_span: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.multiHeadAttention = DisentangledAttention(
            args[0], args[1], args[3], args[2], pos_att_type=pos_att_type, share_att_key=share_att_key, att_span=att_span,
            attention_head_size=kwargs.get("attention_head_size"),
        )

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,  # type: ignore[override]
                conditional_emb: torch.Tensor | None = None, *, position_ids: torch.Tensor | None = None,
                rel_embeddings: torch.Tensor | None = None, relative_pos: torch.Tensor | None = None) -> torch.Tensor:
        attn = self.multiHeadAttention(hidden_states, attention_mask, rel_embeddings, relative_pos)
        hidden_states = self.layerNorm1((hidden_states + self.dropout1(attn), conditional_emb))
        return self.layerNorm2((hidden_states + self.dropout2(self.feedForward(hidden_states)), conditional_emb))


class DebertaV2(BERT):
    """DeBERTa-v2 (``model='deberta_v2'``)."""

    config_class: ClassVar[type[EncoderConfig]] = DebertaV2Config
    prefix: ClassVar[str] = "deberta"
    weight_map: ClassVar[dict] = DEBERTA_V2_WEIGHT_MAP
    hf_model_type: ClassVar[str | None] = "deberta-v2"
    hf_architecture: ClassVar[str | None] = "DebertaV2ForMaskedLM"

    def __init__(self, config: EncoderConfig | None = None, /, **options: Any) -> None:
        cfg = config if config is not None else DebertaV2Config.from_dict(options)
        if config is not None and options:
            cfg = DebertaV2Config.from_dict(config.to_dict(), overrides=options)
        self._att_types = cfg.attention_types() if cfg.relative_attention else []
        max_rel = cfg.max_relative_positions if cfg.max_relative_positions >= 1 else cfg.max_position
        self._att_span = cfg.position_buckets if cfg.position_buckets > 0 else max_rel
        self._max_rel = max_rel
        super().__init__(cfg)
        if self.relative_attention:
            self.rel_embeddings = uninitialized_embedding(2 * self._att_span, self.hidden_size)
            if "layer_norm" in self.norm_rel_ebd.lower():
                self.rel_layerNorm = LayerNorm(self.hidden_size, eps=self.layer_norm_eps)
            self.relative_positions = RelativePositionsEncodingDebertaV2(0, 0, self.position_buckets, self._max_rel)
        if self.conv_kernel_size > 0:
            self.conv = ConvLayer(self.hidden_size, self.dropout_rate, self.layer_norm_eps, self.conv_kernel_size,
                                  self.conv_groups, self.conv_act)
        self.apply(self.init_model_weights)
        self.tie_weights()

    def build_embeddings(self) -> nn.Module:
        return DebertaV2Embeddings(self.effective_vocab_size(), self.embedding_size, self.hidden_size, self.max_position,
                                   self.segment_vocab_size, self.dropout_rate, self.layer_norm_eps, self.position_biased_input)

    def build_layer(self, index: int) -> nn.Module:
        return DebertaV2Layer(
            self.hidden_size, self.num_attention_heads, self.dropout_rate, self.attention_probs_dropout_prob,
            self.intermediate_size, self.hidden_act, self.is_dropout, self.conditional_size,
            attention_head_size=self.attention_head_size, layer_norm_eps=self.layer_norm_eps,
            pos_att_type=self._att_types, share_att_key=self.share_att_key, att_span=self._att_span,
        )

    def apply_embeddings(self, inputs: Any) -> list[Any]:
        hidden, mask, cond, position_ids = super().apply_embeddings(inputs)
        token_ids = self._split_inputs(inputs)["token_ids"] if not isinstance(inputs, torch.Tensor) else inputs
        keep = (token_ids != self.token_pad_ids) if not token_ids.is_floating_point() else None
        if keep is not None:
            hidden = hidden * keep.unsqueeze(-1).to(hidden.dtype)  # HF zeroes padded embeddings (the conv sees them)
        self._input_mask = keep
        return [self.embeddings.dropout(hidden), mask, cond, position_ids]

    def apply_main_layers(self, inputs: list[Any]) -> list[Any]:
        hidden_states, mask, conditional_emb, position_ids = inputs[:4]
        rel_embeddings = relative_pos = None
        if self.relative_attention:
            rel_embeddings = self.rel_embeddings.weight
            if hasattr(self, "rel_layerNorm"):
                rel_embeddings = self.rel_layerNorm(rel_embeddings)
            n = hidden_states.shape[1]
            relative_pos = self.relative_positions(n, n, hidden_states.device)[0]
        embedding_output = hidden_states
        encoded_layers = [hidden_states]
        layer_inputs = [hidden_states, mask, conditional_emb, position_ids]
        for l_i, layer in enumerate(self.encoderLayer):
            layer_inputs = self.apply_on_layer_begin(l_i, layer_inputs)
            def run(h, m, c, layer=layer):  # noqa: ANN001, ANN202
                return layer(h, m, c, rel_embeddings=rel_embeddings, relative_pos=relative_pos)

            if self.gradient_checkpoint and self.training:
                out = grad_checkpoint(run, layer_inputs[0], layer_inputs[1], layer_inputs[2], use_reentrant=False)
            else:
                out = run(layer_inputs[0], layer_inputs[1], layer_inputs[2])
            if l_i == 0 and self.conv_kernel_size > 0:
                out = self.conv(embedding_output, out, self._input_mask)
            layer_inputs[0] = out
            layer_inputs = self.apply_on_layer_end(l_i, layer_inputs)
            if self.output_all_encoded_layers:
                encoded_layers.append(out)
        if not self.output_all_encoded_layers:
            encoded_layers.append(layer_inputs[0])
        return [encoded_layers, conditional_emb]

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        config.pop("position_embedding_type", None)
        config.update(
            relative_attention=self.relative_attention, max_relative_positions=self.max_relative_positions,
            position_buckets=self.position_buckets, pos_att_type=self._att_types, norm_rel_ebd=self.norm_rel_ebd,
            share_att_key=self.share_att_key, conv_kernel_size=self.conv_kernel_size, conv_groups=self.conv_groups,
            conv_act=self.conv_act, position_biased_input=self.position_biased_input, embedding_size=self.embedding_size,
            legacy=True,
        )
        return config


