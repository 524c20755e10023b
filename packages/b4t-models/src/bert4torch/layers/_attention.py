"""Multi-head attention with the position schemes of the encoder families.

Masks: every attention layer takes ``attention_mask`` as an *additive* float tensor broadcastable to
``[btz, heads, q_len, k_len]`` (0 where attention is allowed, a large negative number where it is not), or None.
The model base builds it once per forward from the original's 0/1 mask (see
``bert4torch.models.BERT_BASE.compute_attention_bias``), so no layer converts masks again.

Position schemes (``p_bias``): None (absolute embeddings added outside), ``'rotary'`` (RoPE on q and k),
``'typical_relative'`` (NEZHA: ``q·(k + r_ij)`` and ``sum p_ij (v + r_ij)``), and any additive ``position_bias``
passed to ``forward`` (T5 buckets, ALiBi): it is folded into the mask so SDPA still runs. DeBERTa's disentangled
attention lives in ``bert4torch.models.deberta_v2`` because only that family uses it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._fused import FUSE_MAX_ROWS, fused_linear
from ._position import RelativePositionsEncoding, RoPEPositionEncoding


class MultiHeadAttentionLayer(nn.Module):
    """Multi-head attention, the original's ``MultiHeadAttentionLayer`` (parameters ``q``, ``k``, ``v``, ``o``).

    Args:
        hidden_size: model width.
        num_attention_heads: number of heads.
        attention_probs_dropout_prob: dropout on the attention probabilities (training only).
        dropout_rate: kept for the original's signature; the residual dropout lives in the layer.
        attention_scale: divide scores by ``sqrt(head_size)`` (T5 does not).
        return_attention_scores: also return the probabilities (forces the explicit path).
        bias: biases on q/k/v/o.
        attention_head_size: per-head size; the hidden size need not divide by the heads.
        attention_key_size: per-head size of q and k when it differs from v's.
        p_bias: position scheme, see the module docstring.
        max_position: table length for RoPE.
        max_relative_position: clip distance for NEZHA.
    """

    def __init__(
        self,
        hidden_size: int,
        num_attention_heads: int,
        attention_probs_dropout_prob: float = 0.0,
        dropout_rate: float = 0.1,
        attention_scale: bool = True,
        return_attention_scores: bool = False,
        bias: bool = True,
        *,
        attention_head_size: int | None = None,
        attention_key_size: int | None = None,
        p_bias: str | None = None,
        max_position: int = 512,
        max_relative_position: int = 64,
        o_bias: bool | None = None,
    ) -> None:
        super().__init__()
        if p_bias not in (None, "rotary", "typical_relative"):
            raise ValueError(f"p_bias {p_bias!r} is not handled here; use None, 'rotary' or 'typical_relative'")
        self.hidden_size = hidden_size
        self.num_attention_heads = num_attention_heads
        self.attention_head_size = attention_head_size or hidden_size // num_attention_heads
        self.attention_key_size = attention_key_size or self.attention_head_size
        self.attention_scale = attention_scale
        self.return_attention_scores = return_attention_scores
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.p_bias = p_bias
        h, dk, dv = num_attention_heads, self.attention_key_size, self.attention_head_size
        self.q = nn.Linear(hidden_size, h * dk, bias=bias)
        self.k = nn.Linear(hidden_size, h * dk, bias=bias)
        self.v = nn.Linear(hidden_size, h * dv, bias=bias)
        self.o = nn.Linear(h * dv, hidden_size, bias=bias if o_bias is None else o_bias)
        self.dropout = nn.Dropout(attention_probs_dropout_prob)
        if p_bias == "rotary":
            self.relative_positions_encoding = RoPEPositionEncoding(max_position, dk)
        elif p_bias == "typical_relative":
            self.relative_positions_encoding = RelativePositionsEncoding(max_position, max_position, dk, max_relative_position)

    def _heads(self, x: torch.Tensor, size: int) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], self.num_attention_heads, size).transpose(1, 2)

    def forward(
        self,
        hidden_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        encoder_hidden_states: torch.Tensor | None = None,
        encoder_attention_mask: torch.Tensor | None = None,
        *,
        position_ids: torch.Tensor | None = None,
        position_bias: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend ``hidden_states`` to itself, or to ``encoder_hidden_states`` (cross-attention).

        Args:
            hidden_states: ``[btz, q_len, hidden]``.
            attention_mask: additive mask for self-attention (see module docstring).
            encoder_hidden_states: keys/values source for cross-attention.
            encoder_attention_mask: additive mask used with ``encoder_hidden_states``.
            position_ids: positions for RoPE (default ``arange``).
            position_bias: additive ``[btz|1, heads, q, k]`` bias (T5-style), folded into the mask.

        Returns:
            ``[btz, q_len, hidden]``, or ``(output, probs)`` with ``return_attention_scores``.
        """
        kv = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        mask = attention_mask if encoder_hidden_states is None else encoder_attention_mask
        # inference on a few rows: one GEMM for q, k and v (see ``_fused.py``)
        fuse = kv is hidden_states and not torch.is_grad_enabled()
        if fuse and hidden_states.shape[0] * hidden_states.shape[1] <= FUSE_MAX_ROWS:
            qkv = fused_linear(hidden_states, (self.q, self.k, self.v))
            dk = self.num_attention_heads * self.attention_key_size
            q_, k_, v_ = qkv.split([dk, dk, self.num_attention_heads * self.attention_head_size], dim=-1)
            q = self._heads(q_, self.attention_key_size)
            k = self._heads(k_, self.attention_key_size)
            v = self._heads(v_, self.attention_head_size)
        else:
            q = self._heads(self.q(hidden_states), self.attention_key_size)
            k = self._heads(self.k(kv), self.attention_key_size)
            v = self._heads(self.v(kv), self.attention_head_size)
        if self.p_bias == "rotary":
            q = self.relative_positions_encoding(q, seq_dim=-2, position_ids=position_ids)
            k = self.relative_positions_encoding(k, seq_dim=-2, position_ids=position_ids)
        if position_bias is not None:
            mask = position_bias if mask is None else mask + position_bias
        scale = 1.0 / math.sqrt(self.attention_key_size) if self.attention_scale else 1.0
        if self.p_bias == "typical_relative" or self.return_attention_scores:
            context, probs = self._explicit(q, k, v, mask, scale)
        else:
            context = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.attention_probs_dropout_prob if self.training else 0.0, scale=scale
            )
            probs = None
        context = context.transpose(1, 2).reshape(hidden_states.shape[0], hidden_states.shape[1], -1)
        out = self.o(context)
        if self.return_attention_scores:
            return out, probs
        return out

    def _explicit(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = torch.matmul(q, k.transpose(-1, -2))
        if self.p_bias == "typical_relative":
            # r_ij depends only on (i, j): [q, k, d]; q·r_ij summed over d for every head
            rel = self.relative_positions_encoding(q.shape[-2], k.shape[-2], q.device).to(q.dtype)
            scores = scores + torch.einsum("bhid,ijd->bhij", q, rel)
        scores = scores * scale
        if mask is not None:
            scores = scores + mask
        probs = torch.softmax(scores, dim=-1)
        probs_d = self.dropout(probs)
        context = torch.matmul(probs_d, v)
        if self.p_bias == "typical_relative":
            rel_v = self.relative_positions_encoding(q.shape[-2], k.shape[-2], q.device).to(q.dtype)
            if rel_v.shape[-1] == v.shape[-1]:
                context = context + torch.einsum("bhij,ijd->bhid", probs_d, rel_v)
        return context, probs
