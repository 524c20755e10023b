"""Position encodings: sinusoid tables, RoPE, NEZHA's functional relative positions, T5 and DeBERTa buckets.

None of these registers a buffer: tables are computed on demand and cached in a plain attribute, so a model built
on the meta device (for loading without random init) needs no buffer re-materialisation.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def get_sinusoid_encoding_table(n_position: int, d_hid: int, padding_idx: int | None = None) -> torch.Tensor:
    """The interleaved sinusoid table of the original: ``[:, 0::2] = sin(pos * w_j)``, ``[:, 1::2] = cos(pos * w_j)``.

    ``w_j = 10000 ** (-2j / d_hid)``. Row ``padding_idx`` (if given) is zero.
    """
    position = torch.arange(0, n_position, dtype=torch.float, device="cpu").unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_hid, 2, device="cpu").float() * (-math.log(10000.0) / d_hid))
    table = torch.zeros(n_position, d_hid, device="cpu")
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)[:, : d_hid // 2]
    if padding_idx is not None:
        table[padding_idx] = 0.0
    return table


def create_position_ids_from_input_ids(input_ids: torch.Tensor, padding_idx: int, past_key_values_length: int = 0) -> torch.Tensor:
    """RoBERTa/fairseq position ids: non-padding tokens count from ``padding_idx + 1``; padding keeps ``padding_idx``."""
    mask = input_ids.ne(padding_idx).int()
    incremental = (torch.cumsum(mask, dim=1).type_as(mask) + past_key_values_length) * mask
    return incremental.long() + padding_idx


class _TableCache:
    """A small per-(length, device, dtype) cache that is not part of the state dict."""

    def __init__(self) -> None:
        self._store: dict[tuple, torch.Tensor] = {}

    def get(self, key: tuple, make) -> torch.Tensor:  # noqa: ANN001 - a zero-argument factory
        value = self._store.get(key)
        if value is None:
            if len(self._store) > 8:
                self._store.clear()
            value = self._store[key] = make()
        return value


class SinusoidalPositionEncoding(nn.Module):
    """Frozen sinusoid position embeddings: ``forward(position_ids) -> [.., embedding_size]``."""

    def __init__(self, max_position: int, embedding_size: int) -> None:
        super().__init__()
        self.max_position = max_position
        self.embedding_size = embedding_size
        self._cache = _TableCache()

    def forward(self, position_ids: torch.Tensor) -> torch.Tensor:
        table = self._cache.get(
            (position_ids.device,),
            lambda: get_sinusoid_encoding_table(self.max_position, self.embedding_size).to(position_ids.device),
        )
        return table[position_ids]


class RoPEPositionEncoding(nn.Module):
    """Rotary position embedding with interleaved pairs ``(x0, x1), (x2, x3), ...`` (RoFormer, the original).

    ``forward(qw, seq_dim=-2, position_ids=None)`` rotates ``qw`` along its last axis by the angle of the position
    on axis ``seq_dim``. Lengths beyond ``max_position`` are computed rather than refused.
    """

    def __init__(self, max_position: int, embedding_size: int) -> None:
        super().__init__()
        self.max_position = max_position
        self.embedding_size = embedding_size
        self._cache = _TableCache()

    def cos_sin(self, length: int, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        def make() -> tuple[torch.Tensor, torch.Tensor]:
            table = get_sinusoid_encoding_table(max(length, self.max_position), self.embedding_size)
            cos = table[:, 1::2].repeat_interleave(2, dim=-1)
            sin = table[:, 0::2].repeat_interleave(2, dim=-1)
            return cos.to(device=device, dtype=dtype), sin.to(device=device, dtype=dtype)

        n = max(length, self.max_position)
        return self._cache.get((n, device, dtype), make)

    def forward(self, qw: torch.Tensor, seq_dim: int = -2, position_ids: torch.Tensor | None = None) -> torch.Tensor:
        seq_len = qw.shape[seq_dim]
        if position_ids is None:
            cos, sin = self.cos_sin(seq_len, qw.device, qw.dtype)
            cos, sin = cos[:seq_len], sin[:seq_len]
            # align the table's length axis with seq_dim
            shape = [1] * qw.dim()
            shape[seq_dim] = seq_len
            shape[-1] = qw.shape[-1]
            cos, sin = cos.reshape(shape), sin.reshape(shape)
        else:
            n = int(position_ids.max().item()) + 1 if position_ids.numel() else 1
            cos, sin = self.cos_sin(n, qw.device, qw.dtype)
            cos, sin = cos[position_ids], sin[position_ids]  # [btz, seq, d]
            if seq_dim in (-2, qw.dim() - 2) and qw.dim() == 4:  # [btz, heads, seq, d]
                cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)
            elif qw.dim() == 4:  # [btz, seq, heads, d]
                cos, sin = cos.unsqueeze(2), sin.unsqueeze(2)
        qw2 = torch.stack([-qw[..., 1::2], qw[..., ::2]], dim=-1).reshape_as(qw)
        return qw * cos + qw2 * sin


class RelativePositionsEncoding(nn.Module):
    """NEZHA's functional relative positions: a fixed sinusoid table indexed by the clipped distance ``j - i``.

    ``forward(qlen, klen) -> [qlen, klen, embedding_size]``. There are no learned parameters.
    """

    def __init__(self, qlen: int, klen: int, embedding_size: int, max_relative_position: int = 127) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.max_relative_position = max_relative_position
        self._cache = _TableCache()

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> torch.Tensor:
        def make() -> torch.Tensor:
            n = self.max_relative_position
            distance = torch.arange(klen)[None, :] - torch.arange(qlen)[:, None]
            index = distance.clamp(-n, n) + n
            table = get_sinusoid_encoding_table(2 * n + 1, self.embedding_size)
            return table[index].to(device or "cpu")

        return self._cache.get((qlen, klen, device), make)


def t5_relative_position_bucket(
    relative_position: torch.Tensor, bidirectional: bool = True, num_buckets: int = 32, max_distance: int = 128
) -> torch.Tensor:
    """T5's bucketing of ``memory_position - query_position`` (exact below half the buckets, log-spaced above)."""
    ret = torch.zeros_like(relative_position)
    n = -relative_position
    if bidirectional:
        num_buckets //= 2
        ret = ret + (n < 0).long() * num_buckets
        n = n.abs()
    else:
        n = torch.clamp(n, min=0)
    max_exact = num_buckets // 2
    is_small = n < max_exact
    val_if_large = max_exact + (
        torch.log(n.float().clamp(min=1) / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    ).long()
    val_if_large = torch.min(val_if_large, torch.full_like(val_if_large, num_buckets - 1))
    return ret + torch.where(is_small, n, val_if_large)


class RelativePositionsEncodingT5(nn.Module):
    """T5 bucket indices: ``forward(qlen, klen) -> [qlen, klen]`` long tensor of bucket ids (no parameters)."""

    def __init__(self, qlen: int, klen: int, relative_attention_num_buckets: int, is_decoder: bool = False, max_distance: int = 128) -> None:
        super().__init__()
        self.num_buckets = relative_attention_num_buckets
        self.bidirectional = not is_decoder
        self.max_distance = max_distance

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> torch.Tensor:
        rel = torch.arange(klen, device=device)[None, :] - torch.arange(qlen, device=device)[:, None]
        return t5_relative_position_bucket(rel, self.bidirectional, self.num_buckets, self.max_distance)


def deberta_log_bucket_position(relative_pos: torch.Tensor, bucket_size: int, max_position: int) -> torch.Tensor:
    """DeBERTa-v2's log buckets of relative positions (same arithmetic as ``transformers``' ``make_log_bucket_position``)."""
    sign = torch.sign(relative_pos)
    mid = bucket_size // 2
    abs_pos = torch.where(
        (relative_pos < mid) & (relative_pos > -mid), torch.tensor(mid - 1).type_as(relative_pos), torch.abs(relative_pos)
    )
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)


class RelativePositionsEncodingDebertaV2(nn.Module):
    """DeBERTa-v2 relative positions ``i - j``, log-bucketed when ``position_buckets > 0``: ``forward(qlen, klen)``."""

    def __init__(self, qlen: int, klen: int, position_buckets: int, max_position: int) -> None:
        super().__init__()
        self.position_buckets = position_buckets
        self.max_position = max_position

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> torch.Tensor:
        q_ids = torch.arange(qlen, dtype=torch.long, device=device)
        k_ids = torch.arange(klen, dtype=torch.long, device=device)
        rel = q_ids[:, None] - k_ids[None, :]
        if self.position_buckets > 0 and self.max_position > 0:
            rel = deberta_log_bucket_position(rel, self.position_buckets, self.max_position)
        return rel.to(torch.long)[None]  # [1, q, k]
