"""Position encodings: one sinusoid, one RoPE, one T5 bucket function, NEZHA's relative table, DeBERTa's buckets.

Every sinusoid here is built from :func:`inverse_frequencies` (``theta ** (-2j / d)``). None of these modules
registers a buffer: tables are computed on demand and cached in a plain attribute, so a model built on the meta
device (for loading without random init) needs no buffer re-materialisation.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

# tables kept per (length, device, dtype) by one module; more distinct keys than this means lengths keep changing,
# and the cache starts over rather than grow
_MAX_CACHED_TABLES = 8


def inverse_frequencies(dim: int, theta: float = 10000.0, device: torch.device | str | None = None) -> Tensor:
    """``w_j = theta ** (-2j / dim)`` for ``j < ceil(dim / 2)``, float32 (the frequencies of every sinusoid here)."""
    return 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.int64, device=device).float() / dim)


def sinusoid(positions: Tensor, dim: int, *, interleaved: bool = True) -> Tensor:
    """``[..., dim]`` sines and cosines of ``positions * w_j``.

    Args:
        positions: any shape, integer or float.
        dim: width of the encoding.
        interleaved: ``sin`` at even and ``cos`` at odd indices (the original's table, NEZHA, RoFormer); False puts
            all sines then all cosines (Transformer-XL, XLNet). An odd ``dim`` drops the last cosine.
    """
    angles = positions.float()[..., None] * inverse_frequencies(dim, device=positions.device)
    if not interleaved:
        return torch.cat([angles.sin(), angles.cos()], dim=-1)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2)[..., :dim]


def get_sinusoid_encoding_table(n_position: int, d_hid: int, padding_idx: int | None = None) -> Tensor:
    """The original's fixed table ``[n_position, d_hid]``: interleaved :func:`sinusoid` of ``0..n-1`` (row
    ``padding_idx``, if given, is zero)."""
    table = sinusoid(torch.arange(n_position), d_hid)
    if padding_idx is not None:
        table[padding_idx] = 0.0
    return table


def create_position_ids_from_input_ids(input_ids: Tensor, padding_idx: int, past_key_values_length: int = 0) -> Tensor:
    """RoBERTa/fairseq position ids: non-padding tokens count from ``padding_idx + 1``; padding keeps ``padding_idx``."""
    mask = input_ids.ne(padding_idx).int()
    incremental = (torch.cumsum(mask, dim=1).type_as(mask) + past_key_values_length) * mask
    return incremental.long() + padding_idx


class _TableCache:
    """A small cache of tables keyed by (length, device, dtype); not part of the state dict."""

    def __init__(self) -> None:
        self._store: dict[tuple, object] = {}

    def get(self, key: tuple, make: Callable[[], object]) -> object:
        value = self._store.get(key)
        if value is None:
            if len(self._store) >= _MAX_CACHED_TABLES:
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

    def forward(self, position_ids: Tensor) -> Tensor:
        table = self._cache.get(
            (position_ids.device,),
            lambda: get_sinusoid_encoding_table(self.max_position, self.embedding_size).to(position_ids.device),
        )
        return table[position_ids]


class RotaryAngles(NamedTuple):
    """``cos``/``sin`` of the RoPE angles, ``[batch|1, 1, seq, dim]``, and the pairing they were laid out for."""

    cos: Tensor
    sin: Tensor
    interleaved: bool

    def rotate(self, x: Tensor) -> Tensor:
        """Rotate ``x`` ``[batch, heads, seq, dim]`` by these angles."""
        if self.interleaved:  # pairs (x0, x1), (x2, x3), ...: (-x1, x0) is the rotated partner
            partner = torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).reshape_as(x)
        else:  # halves (x_i, x_{i+d/2})
            x1, x2 = x.chunk(2, dim=-1)
            partner = torch.cat((-x2, x1), dim=-1)
        return x * self.cos + partner * self.sin


class RoPEPositionEncoding(nn.Module):
    """Rotary position embedding (Su et al. 2021), the one RoPE of every family.

    Args:
        max_position: kept for the original's signature; positions beyond it are computed, not refused.
        embedding_size: the rotated width (a head's size).
        theta: the frequency base.
        interleaved: rotate pairs ``(x0, x1), (x2, x3), ...`` (RoFormer, GlobalPointer, the original) or the two
            halves ``(x_i, x_{i + d/2})`` (LLaMA, Qwen2: the HF convention).
    """

    def __init__(self, max_position: int, embedding_size: int, *, theta: float = 10000.0, interleaved: bool = True
                 ) -> None:
        super().__init__()
        self.max_position = max_position
        self.embedding_size = embedding_size
        self.theta = theta
        self.interleaved = interleaved
        self._inv_freq: dict[torch.device, Tensor] = {}

    def angles(self, position_ids: Tensor, dtype: torch.dtype) -> RotaryAngles:
        """The angles of ``position_ids`` (``[batch|1, seq]``), computed in float32, laid out for ``[b, h, seq, d]``."""
        device = position_ids.device
        if device not in self._inv_freq:
            self._inv_freq[device] = inverse_frequencies(self.embedding_size, self.theta, device)
        freqs = position_ids[..., None].float() * self._inv_freq[device]
        if self.interleaved:
            freqs = freqs.repeat_interleave(2, dim=-1)
        else:
            freqs = torch.cat((freqs, freqs), dim=-1)
        return RotaryAngles(freqs.cos().to(dtype)[:, None], freqs.sin().to(dtype)[:, None], self.interleaved)

    def forward(self, qw: Tensor, seq_dim: int = -2, position_ids: Tensor | None = None) -> Tensor:
        """Rotate ``qw`` along its last axis by the position on axis ``seq_dim`` (the original's call)."""
        seq_dim = seq_dim % qw.dim()
        if position_ids is None:
            position_ids = torch.arange(qw.shape[seq_dim], device=qw.device)[None]
        moved = qw.movedim(seq_dim, -2)
        while moved.dim() < 4:
            moved = moved.unsqueeze(1)
        rotated = self.angles(position_ids, qw.dtype).rotate(moved)
        return rotated.reshape(qw.movedim(seq_dim, -2).shape).movedim(-2, seq_dim)


class RelativePositionsEncoding(nn.Module):
    """NEZHA's functional relative positions: a fixed sinusoid table indexed by the clipped distance ``j - i``.

    ``forward(qlen, klen) -> [qlen, klen, embedding_size]``. There are no learned parameters.
    """

    def __init__(self, qlen: int, klen: int, embedding_size: int, max_relative_position: int = 127) -> None:
        super().__init__()
        self.embedding_size = embedding_size
        self.max_relative_position = max_relative_position
        self._cache = _TableCache()

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> Tensor:
        def make() -> Tensor:
            n = self.max_relative_position
            distance = torch.arange(klen)[None, :] - torch.arange(qlen)[:, None]
            return get_sinusoid_encoding_table(2 * n + 1, self.embedding_size)[distance.clamp(-n, n) + n].to(device)

        return self._cache.get((qlen, klen, device), make)


def t5_relative_position_bucket(
    relative_position: Tensor, bidirectional: bool = True, num_buckets: int = 32, max_distance: int = 128
) -> Tensor:
    """T5's bucket of ``key_position - query_position``: exact below half the buckets, log-spaced up to
    ``max_distance`` (the arithmetic of Mesh TensorFlow and transformers, so the learned biases line up)."""
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

    def __init__(self, qlen: int, klen: int, relative_attention_num_buckets: int, is_decoder: bool = False,
                 max_distance: int = 128) -> None:
        super().__init__()
        self.num_buckets = relative_attention_num_buckets
        self.bidirectional = not is_decoder
        self.max_distance = max_distance

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> Tensor:
        rel = torch.arange(klen, device=device)[None, :] - torch.arange(qlen, device=device)[:, None]
        return t5_relative_position_bucket(rel, self.bidirectional, self.num_buckets, self.max_distance)


class T5PositionBias(nn.Module):
    """T5's learned per-head bias over relative-position buckets (one per stack, shared by its layers).

    ``forward(q_len, k_len) -> [1, heads, q_len, k_len]``; the queries are the last ``q_len`` of the ``k_len``
    positions (a cached decoding step). Distances do not change under left padding, so no position shift is needed.
    """

    def __init__(self, num_buckets: int, num_heads: int, *, bidirectional: bool, max_distance: int = 128) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(num_buckets, num_heads))
        self.bidirectional = bidirectional
        self.max_distance = max_distance

    def forward(self, q_len: int, k_len: int) -> Tensor:
        device = self.weight.device
        rel = torch.arange(k_len, device=device)[None, :] - torch.arange(k_len - q_len, k_len, device=device)[:, None]
        bucket = t5_relative_position_bucket(rel, self.bidirectional, self.weight.shape[0], self.max_distance)
        return self.weight[bucket].permute(2, 0, 1).unsqueeze(0)


def deberta_log_bucket_position(relative_pos: Tensor, bucket_size: int, max_position: int) -> Tensor:
    """DeBERTa-v2's log buckets of relative positions (the arithmetic of transformers' ``make_log_bucket_position``)."""
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

    def forward(self, qlen: int, klen: int, device: torch.device | None = None) -> Tensor:
        rel = torch.arange(qlen, device=device)[:, None] - torch.arange(klen, device=device)[None, :]
        if self.position_buckets > 0 and self.max_position > 0:
            rel = deberta_log_bucket_position(rel, self.position_buckets, self.max_position)
        return rel.to(torch.long)[None]  # [1, q, k]
