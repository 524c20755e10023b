"""Span heads: GlobalPointer, EfficientGlobalPointer and TPLinker's handshaking kernel."""

from __future__ import annotations

import torch
from torch import nn

from ._norm import LayerNorm
from ._position import RoPEPositionEncoding


def _mask_logits(logits: torch.Tensor, mask: torch.Tensor | None, tril_mask: bool) -> torch.Tensor:
    if mask is not None:
        m = mask.bool()
        logits = logits.masked_fill(~m[:, None, :, None], -float("inf"))
        logits = logits.masked_fill(~m[:, None, None, :], -float("inf"))
    if tril_mask:  # spans end at or after their start
        logits = logits - torch.tril(torch.ones_like(logits), -1) * 1e12
    return logits


class _SpanScores(nn.Module):
    """What both GlobalPointers hold: sizes, the lower-triangle switch and the RoPE table."""

    def __init__(self, heads: int, head_size: int, RoPE: bool, max_len: int, tril_mask: bool) -> None:  # noqa: N803
        super().__init__()
        self.heads, self.head_size, self.RoPE, self.tril_mask = heads, head_size, RoPE, tril_mask
        if RoPE:
            self.position_embedding = RoPEPositionEncoding(max_len, head_size)


class GlobalPointer(_SpanScores):
    """GlobalPointer (Su 2021): span scores ``[btz, heads, L, L]`` from per-head q/k, RoPE-rotated by sequence
    position."""

    def __init__(self, hidden_size: int, heads: int, head_size: int, RoPE: bool = True, max_len: int = 512,  # noqa: N803
                 use_bias: bool = True, tril_mask: bool = True) -> None:
        super().__init__(heads, head_size, RoPE, max_len, tril_mask)
        self.dense = nn.Linear(hidden_size, heads * head_size * 2, bias=use_bias)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        out = self.dense(inputs)
        out = torch.stack(torch.chunk(out, self.heads, dim=-1), dim=-2)  # [btz, L, heads, 2d]
        qw, kw = out[..., : self.head_size], out[..., self.head_size:]
        if self.RoPE:
            qw = self.position_embedding(qw, seq_dim=-3)
            kw = self.position_embedding(kw, seq_dim=-3)
        logits = torch.einsum("bmhd,bnhd->bhmn", qw, kw)
        return _mask_logits(logits, mask, self.tril_mask) / self.head_size**0.5


class EfficientGlobalPointer(_SpanScores):
    """Efficient GlobalPointer: shared q/k for all heads plus per-head start/end biases."""

    def __init__(self, hidden_size: int, heads: int, head_size: int, RoPE: bool = True, max_len: int = 512,  # noqa: N803
                 use_bias: bool = True, tril_mask: bool = True) -> None:
        super().__init__(heads, head_size, RoPE, max_len, tril_mask)
        self.p_dense = nn.Linear(hidden_size, head_size * 2, bias=use_bias)
        self.q_dense = nn.Linear(head_size * 2, heads * 2, bias=use_bias)

    def forward(self, inputs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        seq = self.p_dense(inputs)
        qw, kw = seq[..., ::2], seq[..., 1::2]
        if self.RoPE:
            qw = self.position_embedding(qw, seq_dim=-2)
            kw = self.position_embedding(kw, seq_dim=-2)
        logits = torch.einsum("bmd,bnd->bmn", qw, kw) / self.head_size**0.5
        bias = torch.stack(torch.chunk(self.q_dense(seq), self.heads, dim=-1), dim=-2).transpose(1, 2)  # [btz, heads, L, 2]
        logits = logits.unsqueeze(1) + bias[..., :1] + bias[..., 1:].transpose(2, 3)
        return _mask_logits(logits, mask, self.tril_mask)


class TplinkerHandshakingKernel(nn.Module):
    """TPLinker's handshaking kernel: one vector per (i <= j) token pair, flattened to ``[btz, L(L+1)/2, hidden]``.

    Args:
        hidden_size: width of the token vectors.
        shaking_type: ``'cat'``, ``'cat_plus'``, ``'cln'`` or ``'cln_plus'``.
        inner_enc_type: for the ``*_plus`` types: ``'mean_pooling'``, ``'max_pooling'``, ``'mix_pooling'`` or ``'lstm'``.
    """

    def __init__(self, hidden_size: int, shaking_type: str, inner_enc_type: str = "") -> None:
        super().__init__()
        if shaking_type not in ("cat", "cat_plus", "cln", "cln_plus"):
            raise ValueError(f"unknown shaking_type {shaking_type!r}")
        if shaking_type.endswith("_plus") and inner_enc_type not in ("mean_pooling", "max_pooling", "mix_pooling", "lstm"):
            raise ValueError(f"shaking_type {shaking_type!r} needs inner_enc_type in mean/max/mix_pooling or lstm")
        self.shaking_type = shaking_type
        self.inner_enc_type = inner_enc_type
        if shaking_type == "cat":
            self.combine_fc = nn.Linear(hidden_size * 2, hidden_size)
        elif shaking_type == "cat_plus":
            self.combine_fc = nn.Linear(hidden_size * 3, hidden_size)
        else:
            self.tp_cln = LayerNorm(hidden_size, conditional_size=hidden_size)
            if shaking_type == "cln_plus":
                self.inner_context_cln = LayerNorm(hidden_size, conditional_size=hidden_size)
        if inner_enc_type == "mix_pooling":
            self.lamtha = nn.Parameter(torch.rand(hidden_size))
        elif inner_enc_type == "lstm":
            self.inner_context_lstm = nn.LSTM(hidden_size, hidden_size, num_layers=1, bidirectional=False, batch_first=True)

    def enc_inner_hiddens(self, seq_hiddens: torch.Tensor, inner_enc_type: str = "lstm") -> torch.Tensor:
        """Running pooling (or an LSTM) over ``seq_hiddens`` ``[btz, n, hidden]``: the context of each span."""
        if inner_enc_type == "lstm":
            return self.inner_context_lstm(seq_hiddens)[0]
        count = torch.arange(1, seq_hiddens.shape[1] + 1, device=seq_hiddens.device, dtype=seq_hiddens.dtype).view(1, -1, 1)
        mean = seq_hiddens.cumsum(1) / count
        if inner_enc_type == "mean_pooling":
            return mean
        running_max = torch.cummax(seq_hiddens, dim=1).values
        if inner_enc_type == "max_pooling":
            return running_max
        return self.lamtha * mean + (1 - self.lamtha) * running_max

    def forward(self, seq_hiddens: torch.Tensor) -> torch.Tensor:
        seq_len = seq_hiddens.shape[-2]
        pieces = []
        for ind in range(seq_len):
            visible = seq_hiddens[:, ind:, :]
            repeat = seq_hiddens[:, ind : ind + 1, :].expand_as(visible)
            if self.shaking_type == "cat":
                shaking = torch.tanh(self.combine_fc(torch.cat([repeat, visible], dim=-1)))
            elif self.shaking_type == "cat_plus":
                inner = self.enc_inner_hiddens(visible, self.inner_enc_type)
                shaking = torch.tanh(self.combine_fc(torch.cat([repeat, visible, inner], dim=-1)))
            elif self.shaking_type == "cln":
                shaking = self.tp_cln((visible, repeat))
            else:
                inner = self.enc_inner_hiddens(visible, self.inner_enc_type)
                shaking = self.inner_context_cln((self.tp_cln((visible, repeat)), inner))
            pieces.append(shaking)
        return torch.cat(pieces, dim=1)
