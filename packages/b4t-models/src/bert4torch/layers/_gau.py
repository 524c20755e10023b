"""Gated Attention Unit (FLASH, Hua et al. 2022), as GAU-alpha uses it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bert4torch.activations import get_activation

from ._position import RoPEPositionEncoding, RotaryAngles


class OffsetScale(nn.Module):
    """Per-head affine maps of one shared vector: ``x * gamma_h + beta_h`` for ``heads`` heads."""

    def __init__(self, head_size: int, heads: int = 1, bias: bool = True) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(heads, head_size))
        if not self.gamma.is_meta:
            nn.init.normal_(self.gamma, std=0.02)
        self.beta = nn.Parameter(torch.zeros(heads, head_size)) if bias else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = torch.einsum("...d,hd->...hd", x, self.gamma)
        if self.beta is not None:
            out = out + self.beta
        return out.unbind(dim=-2)


class GatedAttentionUnit(nn.Module):
    """GAU: ``o_dense(u * (A @ v))`` with ``u, v, z = act(i_dense(x))``, ``q, k = OffsetScale(z)``, one head.

    ``A = normalize(q k^T / sqrt(d) + mask)`` with ``normalization`` ``'softmax'``, ``'squared_relu'``
    (``relu(s)^2 / n``) or ``'softmax_plus'`` (``softmax(s * log(n) / log(512))``), n = the number of visible keys.

    Args:
        hidden_size: model width.
        attention_key_size: size of the shared q/k vector.
        intermediate_size: width of u and v.
        attention_probs_dropout_prob: dropout on ``A`` (when ``is_dropout``).
        hidden_act: activation of ``i_dense``.
        is_dropout: apply that dropout.
        attention_scale: divide scores by ``sqrt(attention_key_size)``.
        bias: biases in the dense layers and OffsetScale.
        normalization: see above.
        p_bias: ``'rotary'`` for RoPE on q and k (GAU-alpha), or None.
        max_position: RoPE table length.
    """

    def __init__(self, hidden_size: int, attention_key_size: int, intermediate_size: int, attention_probs_dropout_prob: float,
                 hidden_act: str, is_dropout: bool = False, attention_scale: bool = True, bias: bool = True,
                 normalization: str = "softmax_plus", *, p_bias: str | None = None, max_position: int = 512) -> None:
        super().__init__()
        if normalization not in ("softmax", "squared_relu", "softmax_plus"):
            raise ValueError(f"unknown normalization {normalization!r}")
        self.intermediate_size = intermediate_size
        self.attention_head_size = attention_key_size
        self.attention_scale = attention_scale
        self.is_dropout = is_dropout
        self.normalization = normalization
        self.hidden_fn = get_activation(hidden_act)
        self.dropout = nn.Dropout(attention_probs_dropout_prob)
        self.i_dense = nn.Linear(hidden_size, intermediate_size * 2 + attention_key_size, bias=bias)
        self.offsetscale = OffsetScale(attention_key_size, heads=2, bias=bias)
        self.o_dense = nn.Linear(intermediate_size, hidden_size, bias=bias)
        self.p_bias = p_bias
        if p_bias == "rotary":
            self.relative_positions_encoding = RoPEPositionEncoding(max_position, attention_key_size)

    def attention_normalize(self, a: torch.Tensor, keep: torch.Tensor | None, dim: int = -1, method: str = "softmax") -> torch.Tensor:
        if method == "softmax":
            return F.softmax(a, dim=dim)
        if keep is None:
            n = torch.full(a.shape[:-1] + (1,), a.shape[-1], dtype=a.dtype, device=a.device)
        else:
            n = keep.to(a.dtype).sum(dim=dim, keepdim=True).clamp(min=1).expand(*a.shape[:-1], 1)
        if method == "squared_relu":
            return F.relu(a) ** 2 / n
        return F.softmax(a * torch.log(n) / math.log(512.0), dim=dim)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, rotary: RotaryAngles | None = None) -> torch.Tensor:
        """``attention_mask`` is additive ``[btz, 1, 1|q, k]`` (see ``MultiHeadAttentionLayer``); ``rotary`` are
        precomputed RoPE angles (else ``p_bias='rotary'`` computes them from ``position_ids``)."""
        x = self.hidden_fn(self.i_dense(hidden_states))
        u, v, qk = x.split([self.intermediate_size, self.intermediate_size, self.attention_head_size], dim=-1)
        q, k = self.offsetscale(qk)
        if rotary is not None:
            q, k = rotary.rotate(q[:, None])[:, 0], rotary.rotate(k[:, None])[:, 0]
        elif self.p_bias == "rotary":
            q = self.relative_positions_encoding(q, seq_dim=-2, position_ids=position_ids)
            k = self.relative_positions_encoding(k, seq_dim=-2, position_ids=position_ids)
        scores = torch.einsum("bid,bjd->bij", q, k)
        if self.attention_scale:
            scores = scores / self.attention_head_size**0.5
        keep = None
        if attention_mask is not None:
            mask = attention_mask.squeeze(1)  # [btz, 1|q, k]
            keep = (mask == 0).expand_as(scores)
            if self.normalization == "squared_relu":
                scores = scores.masked_fill(~keep, 0.0)
            else:
                scores = scores + mask
        probs = self.attention_normalize(scores, keep, -1, self.normalization)
        if self.is_dropout:
            probs = self.dropout(probs)
        return self.o_dense(u * torch.einsum("bij,bjd->bid", probs, v))
