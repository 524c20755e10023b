"""Embeddings and the post-LN encoder layer shared by the BERT-like families."""

from __future__ import annotations

import torch
from torch import nn

from ._attention import MultiHeadAttentionLayer
from ._ffn import PositionWiseFeedForward
from ._norm import LayerNorm
from ._position import SinusoidalPositionEncoding


def uninitialized_embedding(num_embeddings: int, embedding_dim: int) -> nn.Embedding:
    """``nn.Embedding`` initialised as usual (N(0, 1)) except on the meta device, where it stays uninitialised.

    A model built on the meta device for loading gets its values from the checkpoint; calling ``normal_`` there
    would import ~75 MB of Python (its meta kernel), which is most of the memory a small model's load costs.
    """
    weight = torch.empty(num_embeddings, embedding_dim)
    if not weight.is_meta:
        nn.init.normal_(weight)
    return nn.Embedding(num_embeddings, embedding_dim, _weight=weight)


class Identity(nn.Module):
    """Returns its first argument (stands in for dropped layers, ``keep_hidden_layers``)."""

    def forward(self, *args: object, **kwargs: object) -> object:  # noqa: ARG002 - the signature of any layer
        return args[0]


class BertEmbeddings(nn.Module):
    """Word + segment + position (+ extra) embeddings, LayerNorm, dropout, and a projection when sizes differ.

    Args:
        vocab_size: rows of the word embedding.
        embedding_size: embedding width (ALBERT/ELECTRA use one smaller than ``hidden_size``).
        hidden_size: model width; ``embedding_hidden_mapping_in`` projects when it differs.
        max_position: rows of the learned position table.
        segment_vocab_size: rows of the segment table; 0 means no segment input.
        shared_segment_embeddings: look segment ids up in the word table (CDial-GPT).
        dropout_rate: embedding dropout.
        conditional_size: conditional LayerNorm input size (0: none).
        token_pad_ids: padding id (``padding_idx`` is not used: the checkpoint decides the row's values).
        position_type: ``'absolute'`` (learned), ``'sinusoid'`` (fixed) or None (relative schemes, RoPE).
        layer_norm: whether to normalise the sum (GPT-2-style models do not).
        layer_add_embs: extra modules whose outputs are added (POS tags...), one input each.
        hierarchical_position: None, or alpha (True = 0.4) to extend learned positions to ``max_position**2``.
        layer_norm_eps: LayerNorm epsilon.
        norm_mode: ``'normal'`` or ``'rmsnorm'``.
        norm_weight: LayerNorm has a gain.
        norm_bias: LayerNorm has a bias.
        project_in_embeddings: create ``embedding_hidden_mapping_in`` here when sizes differ.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        hidden_size: int,
        max_position: int,
        segment_vocab_size: int,
        shared_segment_embeddings: bool,
        dropout_rate: float,
        conditional_size: int | bool = False,
        token_pad_ids: int = 0,
        *,
        position_type: str | None = "absolute",
        layer_norm: bool = True,
        layer_add_embs: list[nn.Module] | None = None,
        hierarchical_position: float | bool | None = None,
        layer_norm_eps: float = 1e-12,
        norm_mode: str = "normal",
        norm_weight: bool = True,
        norm_bias: bool = True,
        project_in_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.token_pad_ids = token_pad_ids
        self.max_position = max_position
        self.position_type = position_type
        self.shared_segment_embeddings = shared_segment_embeddings
        self.word_embeddings = uninitialized_embedding(vocab_size, embedding_size)
        if segment_vocab_size > 0 and not shared_segment_embeddings:
            self.segment_embeddings = uninitialized_embedding(segment_vocab_size, embedding_size)
        self.segment_vocab_size = segment_vocab_size
        if position_type == "absolute":
            self.position_embeddings = uninitialized_embedding(max_position, embedding_size)
        elif position_type == "sinusoid":
            self.position_embeddings = SinusoidalPositionEncoding(max_position, embedding_size)
        elif position_type is not None:
            raise ValueError(f"position_type must be 'absolute', 'sinusoid' or None, got {position_type!r}")
        if hierarchical_position is True:
            hierarchical_position = 0.4
        self.hierarchical_position = hierarchical_position or None
        self.layer_add_embs = nn.ModuleList(layer_add_embs or [])
        if layer_norm:
            self.layerNorm = LayerNorm(
                embedding_size, eps=layer_norm_eps, conditional_size=conditional_size,
                weight=norm_weight, bias=norm_bias, norm_mode=norm_mode,
            )
        else:
            self.layerNorm = None
        self.dropout = nn.Dropout(dropout_rate)
        if project_in_embeddings and embedding_size != hidden_size:
            self.embedding_hidden_mapping_in = nn.Linear(embedding_size, hidden_size)
        else:
            self.embedding_hidden_mapping_in = None

    def _absolute_positions(self, position_ids: torch.Tensor | None, seq_len: int, device: torch.device) -> torch.Tensor:
        table = self.position_embeddings.weight
        if self.hierarchical_position is None:
            if position_ids is None:
                if seq_len > table.shape[0]:
                    raise ValueError(f"sequence length {seq_len} exceeds max_position={table.shape[0]}; truncate the "
                                     f"input or build with hierarchical_position=True")
                return table[:seq_len].unsqueeze(0)
            return self.position_embeddings(position_ids)
        # Su Jianlin's hierarchical decomposition: p_(i*n+j) = alpha*u_i + (1-alpha)*u_j with u = (p - alpha*p_0)/(1-alpha)
        alpha = float(self.hierarchical_position)
        u = (table - alpha * table[:1]) / (1 - alpha)
        ids = position_ids if position_ids is not None else torch.arange(seq_len, device=device).unsqueeze(0)
        n = self.max_position
        return alpha * u[ids // n] + (1 - alpha) * u[ids % n]

    def forward(
        self,
        token_ids: torch.Tensor,
        segment_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        conditional_emb: torch.Tensor | None = None,
        additional_embs: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Embed ``token_ids`` (long ids, or a float ``[btz, seq, embedding_size]`` tensor used as is)."""
        if token_ids.is_floating_point():
            emb = token_ids
        else:
            emb = self.word_embeddings(token_ids)
        if segment_ids is not None and self.segment_vocab_size > 0:
            if self.shared_segment_embeddings:
                emb = emb + self.word_embeddings(segment_ids)
            else:
                emb = emb + self.segment_embeddings(segment_ids)
        elif self.segment_vocab_size > 0 and not self.shared_segment_embeddings:
            # segment ids omitted: segment 0 everywhere, as the checkpoint was trained (and as transformers does)
            emb = emb + self.segment_embeddings.weight[0]
        if self.position_type == "absolute":
            emb = emb + self._absolute_positions(position_ids, emb.shape[1], emb.device)
        elif self.position_type == "sinusoid":
            ids = position_ids if position_ids is not None else torch.arange(emb.shape[1], device=emb.device).unsqueeze(0)
            emb = emb + self.position_embeddings(ids).to(emb.dtype)
        if additional_embs:
            # one input per layer_add_embs module (looked up), then already-embedded extras added as they are
            for i, extra in enumerate(additional_embs):
                emb = emb + (self.layer_add_embs[i](extra) if i < len(self.layer_add_embs) else extra)
        if self.layerNorm is not None:
            emb = self.layerNorm((emb, conditional_emb))
        emb = self.dropout(emb)
        if self.embedding_hidden_mapping_in is not None:
            emb = self.embedding_hidden_mapping_in(emb)
        return emb


class BertLayer(nn.Module):
    """The post-LN Transformer encoder layer: attention, add & norm, FFN, add & norm.

    Args:
        hidden_size: model width.
        num_attention_heads: heads.
        dropout_rate: residual dropout.
        attention_probs_dropout_prob: attention dropout.
        intermediate_size: FFN inner width.
        hidden_act: FFN activation.
        is_dropout: dropout inside the FFN.
        conditional_size: conditional LayerNorm input size (0: none).
        attention_head_size: per-head size (need not divide ``hidden_size``).
        attention_key_size: per-head size of q/k when it differs.
        attention_scale: scale scores by ``1/sqrt(d)``.
        bias: biases in attention and FFN.
        p_bias: attention position scheme (None, 'rotary', 'typical_relative').
        max_position: RoPE table length.
        max_relative_position: NEZHA clip distance.
        layer_norm_eps: LayerNorm epsilon.
        norm_mode: ``'normal'`` or ``'rmsnorm'``.
        norm_weight: LayerNorms have a gain.
        norm_bias: LayerNorms have a bias.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        dropout_rate: float,
        attention_probs_dropout_prob: float,
        intermediate_size: int,
        hidden_act: str,
        is_dropout: bool = False,
        conditional_size: int | bool = False,
        *,
        attention_head_size: int | None = None,
        attention_key_size: int | None = None,
        attention_scale: bool = True,
        bias: bool = True,
        p_bias: str | None = None,
        max_position: int = 512,
        max_relative_position: int = 64,
        layer_norm_eps: float = 1e-12,
        norm_mode: str = "normal",
        norm_weight: bool = True,
        norm_bias: bool = True,
    ) -> None:
        super().__init__()
        self.multiHeadAttention = MultiHeadAttentionLayer(
            hidden_size, num_attention_heads, attention_probs_dropout_prob, dropout_rate, attention_scale,
            bias=bias, attention_head_size=attention_head_size, attention_key_size=attention_key_size,
            p_bias=p_bias, max_position=max_position, max_relative_position=max_relative_position,
        )
        self.dropout1 = nn.Dropout(dropout_rate)
        self.layerNorm1 = LayerNorm(hidden_size, layer_norm_eps, conditional_size, norm_weight, norm_bias, norm_mode)
        self.feedForward = PositionWiseFeedForward(hidden_size, intermediate_size, dropout_rate, hidden_act, is_dropout, bias)
        self.dropout2 = nn.Dropout(dropout_rate)
        self.layerNorm2 = LayerNorm(hidden_size, layer_norm_eps, conditional_size, norm_weight, norm_bias, norm_mode)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        conditional_emb: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
        position_bias: torch.Tensor | None = None,
    ) -> torch.Tensor:
        attn = self.multiHeadAttention(hidden_states, attention_mask, position_ids=position_ids, position_bias=position_bias)
        hidden_states = self.layerNorm1((hidden_states + self.dropout1(attn), conditional_emb))
        ffn = self.feedForward(hidden_states)
        return self.layerNorm2((hidden_states + self.dropout2(ffn), conditional_emb))
