"""Embeddings and the one Transformer layer every family is built from (post-LN, pre-LN, with cross-attention)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ._attention import MultiHeadAttentionLayer
from ._ffn import PositionWiseFeedForward
from ._norm import LayerNorm
from ._position import SinusoidalPositionEncoding

KeyValue = tuple[Tensor, Tensor]  # one layer's cached (key, value)

# Where a layer normalises: the norm names (checkpoint names) before attention, after attention, before the FFN and
# after the FFN; None where there is none. A cross-attention block is normalised like the self-attention block.
POST_NORM = (None, "layerNorm1", None, "layerNorm2")  # BERT, GPT, the original Transformer: x = LN(x + f(x))
PRE_NORM = ("layerNorm1", None, "layerNorm2", None)  # GPT-2, T5: x = x + f(LN(x))


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
    """Word (+ segment + position + task + extra) embeddings, LayerNorm, dropout, and a projection when sizes differ.

    Every family embeds with this module (decoders switch the parts they lack off).

    Args:
        vocab_size: rows of the word embedding.
        embedding_size: embedding width (ALBERT/ELECTRA use one smaller than ``hidden_size``).
        hidden_size: model width; ``embedding_hidden_mapping_in`` projects when it differs.
        max_position: rows of the learned position table (``position_offset`` included).
        segment_vocab_size: rows of the segment table; 0 means no segment input.
        shared_segment_embeddings: look segment ids up in the word table (CDial-GPT, OpenAI GPT).
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
        word_scale: multiplier of the word embeddings (``sqrt(hidden)`` in Transformer-XL and scaled seq2seq models).
        position_offset: rows of the position table before position 0 (BART keeps fairseq's 2).
        task_type_vocab_size: rows of ERNIE 3.0's task table (``task_type_embeddings``); 0: none.
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
        word_scale: float = 1.0,
        position_offset: int = 0,
        task_type_vocab_size: int = 0,
    ) -> None:
        super().__init__()
        if position_type not in ("absolute", "sinusoid", None):
            raise ValueError(f"position_type must be 'absolute', 'sinusoid' or None, got {position_type!r}")
        self.token_pad_ids = token_pad_ids
        self.max_position = max_position - position_offset
        self.position_type = position_type
        self.position_offset = position_offset
        self.shared_segment_embeddings = shared_segment_embeddings
        self.segment_vocab_size = segment_vocab_size
        self.word_scale = word_scale
        self.word_embeddings = uninitialized_embedding(vocab_size, embedding_size)
        if segment_vocab_size > 0 and not shared_segment_embeddings:
            self.segment_embeddings = uninitialized_embedding(segment_vocab_size, embedding_size)
        if position_type == "absolute":
            self.position_embeddings = uninitialized_embedding(max_position, embedding_size)
        elif position_type == "sinusoid":
            self.position_embeddings = SinusoidalPositionEncoding(max_position, embedding_size)
        self.task_type_embeddings = (uninitialized_embedding(task_type_vocab_size, embedding_size)
                                     if task_type_vocab_size else None)
        self.hierarchical_position = 0.4 if hierarchical_position is True else (hierarchical_position or None)
        self.layer_add_embs = nn.ModuleList(layer_add_embs or [])
        self.layerNorm = LayerNorm(embedding_size, eps=layer_norm_eps, conditional_size=conditional_size,
                                   weight=norm_weight, bias=norm_bias, norm_mode=norm_mode) if layer_norm else None
        self.dropout = nn.Dropout(dropout_rate)
        grow = project_in_embeddings and embedding_size != hidden_size
        self.embedding_hidden_mapping_in = nn.Linear(embedding_size, hidden_size) if grow else None

    def _absolute_positions(self, position_ids: Tensor | None, seq_len: int, device: torch.device) -> Tensor:
        offset = self.position_offset
        if self.hierarchical_position is None:
            if position_ids is not None:
                return self.position_embeddings(position_ids + offset if offset else position_ids)
            if seq_len > self.max_position:
                raise ValueError(f"sequence length {seq_len} exceeds max_position={self.max_position}; truncate the "
                                 f"input or build with hierarchical_position=True")
            return self.position_embeddings.weight[offset : offset + seq_len].unsqueeze(0)
        table = self.position_embeddings.weight[offset:]
        # Su Jianlin's hierarchical decomposition: p_(i*n+j) = alpha*u_i + (1-alpha)*u_j with u = (p - alpha*p_0)/(1-alpha)
        alpha = float(self.hierarchical_position)
        u = (table - alpha * table[:1]) / (1 - alpha)
        ids = position_ids if position_ids is not None else torch.arange(seq_len, device=device).unsqueeze(0)
        return alpha * u[ids // self.max_position] + (1 - alpha) * u[ids % self.max_position]

    def _segments(self, segment_ids: Tensor | None) -> Tensor | None:
        if self.segment_vocab_size <= 0:
            return None
        if self.shared_segment_embeddings:
            return None if segment_ids is None else self.word_embeddings(segment_ids)
        if segment_ids is None:
            # segment ids omitted: segment 0 everywhere, as the checkpoint was trained (and as transformers does)
            return self.segment_embeddings.weight[0]
        return self.segment_embeddings(segment_ids)

    def forward(self, token_ids: Tensor, segment_ids: Tensor | None = None, position_ids: Tensor | None = None,
                conditional_emb: Tensor | None = None, additional_embs: list[Tensor] | None = None,
                task_ids: Tensor | None = None) -> Tensor:
        """Embed ``token_ids`` (long ids, or a float ``[btz, seq, embedding_size]`` tensor used as is)."""
        emb = token_ids if token_ids.is_floating_point() else self.word_embeddings(token_ids)
        if self.word_scale != 1.0:
            emb = emb * self.word_scale
        segments = self._segments(segment_ids)
        if segments is not None:
            emb = emb + segments
        if self.position_type == "absolute":
            emb = emb + self._absolute_positions(position_ids, emb.shape[1], emb.device)
        elif self.position_type == "sinusoid":
            ids = position_ids if position_ids is not None else torch.arange(emb.shape[1], device=emb.device)[None]
            emb = emb + self.position_embeddings(ids).to(emb.dtype)
        if self.task_type_embeddings is not None:
            # task 0 when no task ids are given, as transformers does
            tasks = self.task_type_embeddings
            emb = emb + (tasks.weight[0] if task_ids is None else tasks(task_ids))
        for i, extra in enumerate(additional_embs or ()):
            # one input per layer_add_embs module (looked up), then already-embedded extras added as they are
            emb = emb + (self.layer_add_embs[i](extra) if i < len(self.layer_add_embs) else extra)
        if self.layerNorm is not None:
            emb = self.layerNorm(emb if conditional_emb is None else (emb, conditional_emb))
        emb = self.dropout(emb)
        if self.embedding_hidden_mapping_in is not None:
            emb = self.embedding_hidden_mapping_in(emb)
        return emb


class TransformerLayer(nn.Module):
    """A Transformer layer from its parts: self-attention, optional cross-attention, FFN, and norms where ``norms``
    puts them (see ``POST_NORM``/``PRE_NORM``). Submodule names are the checkpoint's: ``multiHeadAttention``,
    ``crossAttention``, ``crossLayerNorm``, ``feedForward`` and the norm names.

    Args:
        attention: the self-attention (a :class:`MultiHeadAttentionLayer`).
        feed_forward: the FFN.
        norm: makes one norm module (called once per norm).
        norms: ``(before attention, after attention, before FFN, after FFN)`` norm names, None where there is none.
        cross_attention: the cross-attention of a decoder layer, or None.
        dropout_rate: residual dropout.
    """

    def __init__(self, attention: nn.Module, feed_forward: nn.Module, norm: Any, *,
                 norms: tuple[str | None, ...] = POST_NORM, cross_attention: nn.Module | None = None,
                 dropout_rate: float = 0.0) -> None:
        super().__init__()
        self.norms = norms
        self.multiHeadAttention = attention
        for name in norms[:2]:
            if name is not None:
                setattr(self, name, norm())
        self.crossAttention = cross_attention
        if cross_attention is not None:
            self.crossLayerNorm = norm()
        self.feedForward = feed_forward
        for name in norms[2:]:
            if name is not None:
                setattr(self, name, norm())
        self.dropout1 = nn.Dropout(dropout_rate)  # after attention (the original's name)
        self.dropout2 = nn.Dropout(dropout_rate)  # after the FFN

    def _norm(self, name: str | None, x: Tensor, cond: Tensor | None) -> Tensor:
        if name is None:
            return x
        return self._modules[name](x if cond is None else (x, cond))

    def forward(self, hidden_states: Tensor, attention_mask: Tensor | None = None,
                conditional_emb: Tensor | None = None, *, encoder_hidden_states: Tensor | None = None, encoder_attention_mask: Tensor | None = None,
                past_key_value: KeyValue | None = None, cross_past_key_value: KeyValue | None = None,
                use_cache: bool = False, **attention_kwargs: Any) -> Tensor | tuple[Tensor, Any, Any]:
        """Run the layer; ``attention_kwargs`` (``position_ids``, ``rotary``, ``position_bias``, ``relative``,
        ``is_causal``) go to the self-attention. Each block is ``post(x + dropout(block(pre(x))))``.

        Returns:
            The output, or ``(output, self_kv, cross_kv)`` with ``use_cache`` (``cross_kv`` None without
            cross-attention).
        """
        before, after, ffn_before, ffn_after = self.norms
        x, cond, self_kv, cross_kv = hidden_states, conditional_emb, None, None
        out = self.multiHeadAttention(self._norm(before, x, cond), attention_mask, past_key_value=past_key_value,
                                      use_cache=use_cache, **attention_kwargs)
        if use_cache:
            out, self_kv = out
        x = self._norm(after, x + self.dropout1(out), cond)
        # without encoder states (a BERT decoder called alone) the layer runs without its cross-attention
        if self.crossAttention is not None and (encoder_hidden_states is not None or cross_past_key_value is not None):
            out = self.crossAttention(self._norm("crossLayerNorm" if before else None, x, cond),
                                      encoder_hidden_states=encoder_hidden_states, use_cache=use_cache,
                                      encoder_attention_mask=encoder_attention_mask,
                                      past_key_value=cross_past_key_value)
            if use_cache:
                out, cross_kv = out
            x = self._norm(None if before else "crossLayerNorm", x + self.dropout1(out), cond)
        x = self._norm(ffn_after, x + self.dropout2(self.feedForward(self._norm(ffn_before, x, cond))), cond)
        return (x, self_kv, cross_kv) if use_cache else x


class BertLayer(TransformerLayer):
    """The post-LN Transformer encoder layer (the original's signature): attention, add & norm, FFN, add & norm.

    Args:
        hidden_size: model width.
        num_attention_heads: heads.
        dropout_rate: residual dropout.
        attention_probs_dropout_prob: attention dropout.
        intermediate_size: FFN inner width.
        hidden_act: FFN activation.
        is_dropout: dropout inside the FFN.
        conditional_size: conditional LayerNorm input size (0: none).
        bias: biases in attention and FFN.
        layer_norm_eps: LayerNorm epsilon.
        norm_mode: ``'normal'`` or ``'rmsnorm'``.
        norm_weight: LayerNorms have a gain.
        norm_bias: LayerNorms have a bias.
        is_decoder: add cross-attention (``crossAttention``, normalised by ``crossLayerNorm`` after the residual),
            which reads the ``encoder_hidden_states`` given to ``forward``.
        **attention_options: keyword options of :class:`MultiHeadAttentionLayer` (``attention_head_size``,
            ``attention_key_size``, ``attention_scale``, ``p_bias``, ``max_position``, ``max_relative_position``...).
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
        bias: bool = True,
        layer_norm_eps: float = 1e-12,
        norm_mode: str = "normal",
        norm_weight: bool = True,
        norm_bias: bool = True,
        is_decoder: bool = False,
        **attention_options: Any,
    ) -> None:
        attention_options.setdefault("dropout_rate", dropout_rate)
        # cross-attention has the self-attention's sizes and scale, no position scheme (positions are the encoder's)
        cross = {k: v for k, v in attention_options.items()
                 if k in ("attention_head_size", "attention_key_size", "attention_scale", "scale", "dropout_rate")}
        super().__init__(
            MultiHeadAttentionLayer(hidden_size, num_attention_heads, attention_probs_dropout_prob, bias=bias,
                                    **attention_options),
            PositionWiseFeedForward(hidden_size, intermediate_size, dropout_rate, hidden_act, is_dropout, bias),
            lambda: LayerNorm(hidden_size, layer_norm_eps, conditional_size, norm_weight, norm_bias, norm_mode),
            cross_attention=MultiHeadAttentionLayer(hidden_size, num_attention_heads, attention_probs_dropout_prob,
                                                    bias=bias, cross=True, **cross) if is_decoder else None,
            dropout_rate=dropout_rate,
        )
