"""The key/value cache of the decoder families and its protocol: the layout is defined here and nowhere else.

Layout
------
A :class:`KVCache` belongs to one decoder stack of ``N`` layers and holds:

* ``self_attn[i]``: ``(key, value)`` of decoder layer ``i``'s self-attention, each
  ``[batch, num_kv_heads, past_len, head_dim]``. Keys are stored *after* the position transform (RoPE already
  applied), values as projected. Grouped-query models keep ``num_kv_heads`` heads (they are not repeated).
* ``cross_attn[i]``: ``(key, value)`` of the encoder output projected by layer ``i``'s cross-attention, each
  ``[batch, num_heads, src_len, head_dim]``. Computed on the first call, then reused unchanged. An empty tuple for
  decoder-only models.
* ``key_mask``: ``[batch, past_len]`` bool, True where the past token is real and False where it is padding. A
  left-padded row starts with False entries.
* ``encoder_mask``: ``[batch, src_len]`` bool (True = real source token), or None for decoder-only models.

Positions follow the mask: the position id of a new token is the number of real tokens before it in its row
(``key_mask.sum(-1)`` plus the running count of real tokens in the new chunk), so a left-padded row gets the same
positions, and therefore the same logits, as the same row without padding.

Protocol
--------
Every cached model takes ``past_key_values: KVCache | None`` and ``use_cache: bool`` in ``forward``. With
``use_cache=True`` it returns ``(outputs, new_cache)``; ``outputs`` is what the call returns without the cache.
The cache passed in is never modified (new entries are concatenated into new tensors), so a caller may keep an old
cache, and :meth:`KVCache.reorder` picks batch rows for beam search. The first call with an empty cache (or None)
processes the prompt; later calls pass only the new token ids. Padding is read from the token ids (or an explicit
mask) of each call and accumulated in ``key_mask``, so later calls need no mask.

Families
--------
* Decoder-only (gpt, gpt2, gpt2_ml, llama, qwen2, transformer_xl): ``model([ids], past_key_values=cache,
  use_cache=True) -> (logits, cache)``; ``cross_attn`` is ``()``. Transformer-XL's ``mems`` are this cache: its
  relative attention needs only past keys/values, so no hidden states are stored.
* Encoder-decoder (t5 variants, bart, transformer): the first call ``model([[enc_ids], [dec_ids]], use_cache=True)``
  fills ``cross_attn`` and ``encoder_mask``; later calls pass ``[None, [new_dec_ids]]`` (the encoder is not run
  again) and get ``([decoder_hidden, logits], cache)``. The standalone decoders (``t5_decoder``, ``decoder``) take
  ``[ids, encoder_hidden, encoder_mask]`` first and ``[ids, None, None]`` afterwards.
* T5 adds its bucketed position bias from index positions: relative distances do not change under left padding.
* XLNet is bidirectional and takes no cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

__all__ = [
    "DecoderCache",
    "KVCache",
    "attention_bias",
    "causal_bias_for",
    "position_ids_from_mask",
]


@runtime_checkable
class DecoderCache(Protocol):
    """What ``past_key_values`` must offer the decoding loop of ``bert4torch.generation`` (``KVCache`` does)."""

    @property
    def seq_len(self) -> int:
        """Number of cached positions (padding included)."""
        ...

    @property
    def batch_size(self) -> int:
        """Number of rows in the cache."""
        ...

    def num_real_tokens(self) -> Tensor:
        """Per-row count of real past tokens, ``[batch]`` long."""
        ...

    def reorder(self, index: Tensor) -> DecoderCache:
        """A cache whose rows are ``index`` (beam search, dropping finished rows); this one is unchanged."""
        ...


@dataclass(frozen=True)
class KVCache:
    """Past keys and values of one decoder stack (layout in the module docstring).

    Attributes:
        self_attn: Per layer ``(key, value)``, ``[batch, kv_heads, past_len, head_dim]``.
        cross_attn: Per layer ``(key, value)`` of the encoder output, or ``()`` for decoder-only models.
        key_mask: ``[batch, past_len]`` bool, True for real (non-padding) past tokens.
        encoder_mask: ``[batch, src_len]`` bool for encoder-decoder models, else None.
    """

    self_attn: tuple[tuple[Tensor, Tensor], ...]
    cross_attn: tuple[tuple[Tensor, Tensor], ...]
    key_mask: Tensor
    encoder_mask: Tensor | None = None

    @property
    def seq_len(self) -> int:
        """Number of cached positions (padding included)."""
        return int(self.key_mask.shape[1])

    @property
    def batch_size(self) -> int:
        """Number of rows in the cache."""
        return int(self.key_mask.shape[0])

    def num_real_tokens(self) -> Tensor:
        """Per-row count of real past tokens, ``[batch]`` long: the next position id of each row."""
        return self.key_mask.sum(dim=-1)

    def reorder(self, index: Tensor) -> KVCache:
        """Return a cache whose rows are ``index`` (beam search, dropping finished rows).

        Args:
            index: ``[new_batch]`` long tensor of row indices into this cache.

        Returns:
            A new cache; this one is unchanged.
        """

        def pick(pair: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            return pair[0].index_select(0, index), pair[1].index_select(0, index)

        return KVCache(
            self_attn=tuple(pick(p) for p in self.self_attn),
            cross_attn=tuple(pick(p) for p in self.cross_attn),
            key_mask=self.key_mask.index_select(0, index),
            encoder_mask=None if self.encoder_mask is None else self.encoder_mask.index_select(0, index),
        )


def position_ids_from_mask(mask: Tensor, past: KVCache | None) -> Tensor:
    """Position ids of new tokens, counting only real tokens, so left padding does not shift positions.

    Args:
        mask: ``[batch, new_len]`` bool, True for real tokens of this call.
        past: The cache before this call, or None.

    Returns:
        ``[batch, new_len]`` long. Padding tokens get the position of the next real token (clamped at 0); their
        value does not matter because they are never attended to.
    """
    counts = mask.long().cumsum(dim=-1) - 1
    if past is not None and past.seq_len:
        counts = counts + past.num_real_tokens().unsqueeze(-1)
    return counts.clamp(min=0)


def attention_bias(
    key_mask: Tensor | None, q_len: int, causal: bool, dtype: torch.dtype
) -> tuple[Tensor | None, bool]:
    """Additive attention bias for ``q_len`` new queries against ``key_mask.shape[1]`` keys.

    The queries are the last ``q_len`` key positions. A finite minimum (not -inf) is used so that a padding query,
    whose every key may be masked, gets a uniform distribution instead of NaN; its output is never used.

    Args:
        key_mask: ``[batch, k_len]`` bool (True = may be attended), or None when every key is real.
        q_len: Number of queries.
        causal: Whether query ``i`` may see only keys up to its own position.
        dtype: Floating dtype of the scores.

    Returns:
        ``(bias, is_causal)``: bias ``[batch, 1, q_len, k_len]`` or None; ``is_causal`` tells SDPA to apply its own
        causal mask (only when no bias is needed and the queries are all the keys, the fast path).
    """
    if key_mask is not None and bool(key_mask.all()):
        key_mask = None
    if key_mask is None:
        if not causal or q_len == 1:
            return None, False
        return None, True
    k_len = key_mask.shape[1]
    allowed = key_mask[:, None, None, :]
    if causal:
        q_pos = torch.arange(k_len - q_len, k_len, device=key_mask.device)
        k_pos = torch.arange(k_len, device=key_mask.device)
        allowed = allowed & (k_pos[None, :] <= q_pos[:, None])[None, None]
    zero = torch.zeros((), dtype=dtype, device=key_mask.device)
    return torch.where(allowed, zero, torch.finfo(dtype).min), False


def causal_bias_for(q_len: int, k_len: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """A plain ``[1, 1, q_len, k_len]`` causal additive bias (queries are the last ``q_len`` keys)."""
    q_pos = torch.arange(k_len - q_len, k_len, device=device)
    k_pos = torch.arange(k_len, device=device)
    zero = torch.zeros((), dtype=dtype, device=device)
    return torch.where(k_pos[None, :] <= q_pos[:, None], zero, torch.finfo(dtype).min)[None, None]
