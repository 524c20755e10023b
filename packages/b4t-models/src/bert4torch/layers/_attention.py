"""The one multi-head attention of every family (encoders, decoders, encoder-decoders).

Masks: ``attention_mask`` is an *additive* float tensor broadcastable to ``[btz, heads, q_len, k_len]`` (0 where
attention is allowed, a large negative number where it is not), or None. Models build it once per forward, so no
layer converts masks again.

Position schemes, all in this one class:

* absolute positions are added to the embeddings outside; ``rotary`` angles (:class:`RotaryAngles`, interleaved
  pairs for RoFormer, halves for LLaMA) rotate q and k before the keys are cached; ``p_bias='rotary'`` makes the
  layer compute them itself from ``position_ids`` (the original's layer);
* additive biases (``position_bias``: T5 buckets, ALiBi) are folded into the mask, so SDPA still runs;
* ``p_bias='deberta'``: DeBERTa-v2's content-to-position and position-to-content terms, computed from
  ``relative=(rel_embeddings, relative_pos)`` and handed to SDPA as an additive bias;
* ``p_bias='transformer_xl'``: Transformer-XL's ``u . k_j + (q_i + v) . R_{i-j}`` terms from ``relative=(pos,)``
  (or ``(pos, r_w_bias, r_r_bias)`` when the biases are shared across layers), also an additive bias;
* ``p_bias='typical_relative'`` (NEZHA: ``q.(k + r_ij)`` and ``sum p_ij (v + r_ij)``) and
  ``return_attention_scores`` need the probabilities, so they take the explicit (eager) branch.

Decoding: ``past_key_value`` is this layer's ``(key, value)`` in the cache layout of ``bert4torch.models.KVCache``;
self-attention appends the new keys/values, cross-attention (``cross=True``) reuses the encoder's projection. With
``use_cache=True`` the layer also returns its new ``(key, value)``. Grouped-query attention keeps
``num_key_value_heads`` heads in the cache.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._fused import FUSE_MAX_ROWS, fused_linear
from ._position import RelativePositionsEncoding, RoPEPositionEncoding, RotaryAngles

# torch >= 2.5 lets SDPA share key/value heads across query heads (grouped-query attention) without copying
_SDPA_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)
_SCHEMES = (None, "rotary", "typical_relative", "deberta", "transformer_xl")


class MultiHeadAttentionLayer(nn.Module):
    """Multi-head attention (parameters ``q``, ``k``, ``v``, ``o``, the original's names).

    Args:
        hidden_size: model width.
        num_attention_heads: number of query heads.
        attention_probs_dropout_prob: dropout on the attention probabilities (training only).
        dropout_rate: dropout on DeBERTa's relative embeddings (the residual dropout lives in the layer).
        attention_scale: divide scores by ``sqrt(key size)`` (T5 does not).
        return_attention_scores: also return the probabilities (forces the eager branch).
        bias: biases on q/k/v (and o unless ``o_bias`` says otherwise).
        attention_head_size: per-head size of v; the hidden size need not divide by the heads.
        attention_key_size: per-head size of q and k when it differs from v's.
        num_key_value_heads: key/value heads for grouped-query attention (None: as many as query heads).
        o_bias: bias on the output projection (None: ``bias``).
        scale: the multiplier of ``q . k`` when it is neither ``1/sqrt(d)`` nor 1 (DeBERTa).
        kv_input_size: width of the encoder output for cross-attention (None: ``hidden_size``).
        cross: cross-attention: keys/values come from the encoder output and are cached once, never appended.
        p_bias: position scheme, see the module docstring.
        max_position: table length for ``p_bias='rotary'``/``'typical_relative'``.
        max_relative_position: NEZHA's clip distance.
        pos_att_type: DeBERTa's terms, a subset of ``('c2p', 'p2c')``.
        share_att_key: DeBERTa: the position projections reuse ``q``/``k``.
        own_relative_biases: Transformer-XL: this layer holds ``r_w_bias``/``r_r_bias`` (False: the model shares one
            pair and passes it in ``relative``).
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
        num_key_value_heads: int | None = None,
        o_bias: bool | None = None,
        scale: float | None = None,
        kv_input_size: int | None = None,
        cross: bool = False,
        p_bias: str | None = None,
        max_position: int = 512,
        max_relative_position: int = 64,
        pos_att_type: tuple[str, ...] | list[str] = (),
        share_att_key: bool = False,
        own_relative_biases: bool = True,
    ) -> None:
        super().__init__()
        if p_bias not in _SCHEMES:
            raise ValueError(f"p_bias must be one of {_SCHEMES}, got {p_bias!r}")
        self.num_attention_heads = h = num_attention_heads
        self.num_key_value_heads = kv = num_key_value_heads or num_attention_heads
        if h % kv:
            raise ValueError(f"num_attention_heads={h} is not a multiple of num_key_value_heads={kv}")
        self.attention_head_size = dv = attention_head_size or hidden_size // h
        self.attention_key_size = dk = attention_key_size or dv
        if scale is None:
            scale = 1.0 / math.sqrt(dk) if attention_scale else 1.0
        self.scale = scale
        self.return_attention_scores = return_attention_scores
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.dropout_rate = dropout_rate
        self.cross = cross
        self.p_bias = p_bias
        kv_in = kv_input_size or hidden_size
        self.q = nn.Linear(hidden_size, h * dk, bias=bias)
        self.k = nn.Linear(kv_in, kv * dk, bias=bias)
        self.v = nn.Linear(kv_in, kv * dv, bias=bias)
        self.o = nn.Linear(h * dv, hidden_size, bias=bias if o_bias is None else o_bias)
        self.dropout = nn.Dropout(attention_probs_dropout_prob)
        self._position_modules(hidden_size, max_position, max_relative_position, pos_att_type, share_att_key,
                               own_relative_biases)

    def _position_modules(self, hidden_size: int, max_position: int, max_relative_position: int,
                          pos_att_type: tuple[str, ...] | list[str], share_att_key: bool, own_biases: bool) -> None:
        """The tables and parameters of the position scheme (names are the checkpoints')."""
        h, dk = self.num_attention_heads, self.attention_key_size
        if self.p_bias == "rotary":
            self.relative_positions_encoding = RoPEPositionEncoding(max_position, dk)
        elif self.p_bias == "typical_relative":
            self.relative_positions_encoding = RelativePositionsEncoding(max_position, max_position, dk,
                                                                         max_relative_position)
        elif self.p_bias == "deberta":
            self.pos_att_type, self.share_att_key = tuple(pos_att_type), share_att_key
            if not share_att_key and "c2p" in self.pos_att_type:
                self.pos_key_proj = nn.Linear(hidden_size, h * dk)
            if not share_att_key and "p2c" in self.pos_att_type:
                self.pos_query_proj = nn.Linear(hidden_size, h * dk)
        elif self.p_bias == "transformer_xl":
            self.r = nn.Linear(hidden_size, h * dk, bias=False)
            if own_biases:
                self.r_w_bias = nn.Parameter(torch.zeros(h, dk))
                self.r_r_bias = nn.Parameter(torch.zeros(h, dk))

    def _heads(self, x: Tensor, heads: int, size: int) -> Tensor:
        return x.view(x.shape[0], x.shape[1], heads, size).transpose(1, 2)

    def _project_self(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """q, k, v heads of ``x``; on a few rows at inference (decoding steps) one GEMM (see FUSE_MAX_ROWS)."""
        h, kv = self.num_attention_heads, self.num_key_value_heads
        dk, dv = self.attention_key_size, self.attention_head_size
        if torch.is_grad_enabled() or x.shape[0] * x.shape[1] > FUSE_MAX_ROWS:
            return self._heads(self.q(x), h, dk), self._heads(self.k(x), kv, dk), self._heads(self.v(x), kv, dv)
        q, k, v = fused_linear(x, (self.q, self.k, self.v)).split([h * dk, kv * dk, kv * dv], dim=-1)
        return self._heads(q, h, dk), self._heads(k, kv, dk), self._heads(v, kv, dv)

    def _project(self, x: Tensor, past: tuple[Tensor, Tensor] | None, rotary: RotaryAngles | None,
                 position_ids: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """Self-attention q, k, v in ``[btz, heads, len, size]``: keys rotated, then appended to the past."""
        q, k, v = self._project_self(x)
        if rotary is None and self.p_bias == "rotary":
            if position_ids is None:
                position_ids = torch.arange(x.shape[1], device=x.device)[None]
            rotary = self.relative_positions_encoding.angles(position_ids, q.dtype)
        if rotary is not None:
            q, k = rotary.rotate(q), rotary.rotate(k)
        if past is not None and past[0].shape[2]:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        return q, k, v

    def _project_cross(self, x: Tensor, source: Tensor | None, past: tuple[Tensor, Tensor] | None
                       ) -> tuple[Tensor, Tensor, Tensor]:
        """Cross-attention q of ``x``; keys/values of ``source``, or the cached projection (``cross=True``)."""
        q = self._heads(self.q(x), self.num_attention_heads, self.attention_key_size)
        if self.cross and past is not None:
            return q, past[0], past[1]
        if source is None:
            raise ValueError("cross-attention needs the encoder output or its cached projection")
        kv, dk, dv = self.num_key_value_heads, self.attention_key_size, self.attention_head_size
        return q, self._heads(self.k(source), kv, dk), self._heads(self.v(source), kv, dv)

    def forward(self, hidden_states: Tensor, attention_mask: Tensor | None = None,
                encoder_hidden_states: Tensor | None = None, encoder_attention_mask: Tensor | None = None, *,
                position_ids: Tensor | None = None, position_bias: Tensor | None = None,
                rotary: RotaryAngles | None = None, relative: tuple[Tensor, ...] | None = None,
                past_key_value: tuple[Tensor, Tensor] | None = None, is_causal: bool = False,
                use_cache: bool = False) -> Tensor | tuple[Tensor, ...]:
        """Attend ``hidden_states`` to itself (plus the past), or to ``encoder_hidden_states`` (cross-attention).

        Args:
            hidden_states: ``[btz, q_len, hidden]``.
            attention_mask: additive mask for self-attention (see the module docstring).
            encoder_hidden_states: keys/values source for cross-attention.
            encoder_attention_mask: additive mask used in cross-attention.
            position_ids: positions for ``p_bias='rotary'`` (default ``arange``).
            position_bias: additive ``[btz|1, heads, q, k]`` bias (T5), folded into the mask.
            rotary: precomputed RoPE angles of the new tokens (one computation per forward for all layers).
            relative: the inputs of the DeBERTa or Transformer-XL terms (module docstring).
            past_key_value: this layer's cached ``(key, value)``.
            is_causal: let SDPA apply the causal mask (only when no mask is needed and there is no past).
            use_cache: also return the new ``(key, value)``.

        Returns:
            ``[btz, q_len, hidden]``; ``(output, probs)`` with ``return_attention_scores``; the new ``(key, value)``
            appended last with ``use_cache``.
        """
        cross = self.cross or encoder_hidden_states is not None
        if cross:
            q, k, v = self._project_cross(hidden_states, encoder_hidden_states, past_key_value)
        else:
            q, k, v = self._project(hidden_states, past_key_value, rotary, position_ids)
        mask = encoder_attention_mask if cross else attention_mask
        for extra in (position_bias, None if relative is None else self._relative_bias(q, k, relative)):
            if extra is not None:
                mask = extra if mask is None else mask + extra
        if self.p_bias == "typical_relative" or self.return_attention_scores:
            context, probs = self._eager(q, *self._repeat_kv(k, v), mask)
        else:
            context, probs = self._sdpa(q, k, v, mask, is_causal), None
        b, _, t, _ = context.shape
        out = self.o(context.transpose(1, 2).reshape(b, t, -1))
        extras = (probs,) if self.return_attention_scores else ()
        extras += ((k, v),) if use_cache else ()
        return (out, *extras) if extras else out

    def _repeat_kv(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Key/value heads repeated to the query heads (grouped-query attention); unchanged otherwise."""
        rep = self.num_attention_heads // self.num_key_value_heads
        if rep == 1:
            return k, v
        b, n, t, _ = k.shape
        return (k[:, :, None].expand(b, n, rep, t, k.shape[-1]).reshape(b, n * rep, t, -1),
                v[:, :, None].expand(b, n, rep, t, v.shape[-1]).reshape(b, n * rep, t, -1))

    def _sdpa(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, is_causal: bool) -> Tensor:
        dropout = self.attention_probs_dropout_prob if self.training else 0.0
        if self.num_key_value_heads != self.num_attention_heads and _SDPA_GQA and q.shape[2] == 1:
            # one query per row (a decoding step): SDPA broadcasts the shared key/value heads itself, so the growing
            # cache is not copied; for longer queries its GQA path is slower than the fused kernel on repeated heads
            # (measured on CPU), hence _repeat_kv there
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal,
                                                  scale=self.scale, enable_gqa=True)
        k, v = self._repeat_kv(k, v)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal,
                                              scale=self.scale)

    def _eager(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Scores, softmax and values written out (NEZHA's relative terms, or the probabilities wanted)."""
        scores = torch.matmul(q, k.transpose(-1, -2))
        rel = None
        if self.p_bias == "typical_relative":
            # r_ij depends only on (i, j): [q, k, d]; q . r_ij summed over d for every head
            rel = self.relative_positions_encoding(q.shape[-2], k.shape[-2], q.device).to(q.dtype)
            scores = scores + torch.einsum("bhid,ijd->bhij", q, rel)
        scores = scores * self.scale
        if mask is not None:
            scores = scores + mask
        probs = torch.softmax(scores, dim=-1)
        dropped = self.dropout(probs)
        context = torch.matmul(dropped, v)
        if rel is not None and rel.shape[-1] == v.shape[-1]:
            context = context + torch.einsum("bhij,ijd->bhid", dropped, rel)
        return context, probs

    def _relative_bias(self, q: Tensor, k: Tensor, relative: tuple[Tensor, ...]) -> Tensor:
        """The additive score terms of DeBERTa or Transformer-XL, already scaled."""
        if self.p_bias == "deberta":
            return self._deberta_bias(q, k, *relative) * self.scale
        if self.p_bias == "transformer_xl":
            return self._transformer_xl_bias(q, k, *relative) * self.scale
        raise ValueError(f"relative position inputs need p_bias 'deberta' or 'transformer_xl', not {self.p_bias!r}")

    def _position_heads(self, proj: nn.Linear, rel: Tensor) -> Tensor:
        return proj(rel).view(rel.shape[0], self.num_attention_heads, -1).transpose(0, 1)  # [h, 2S, d]

    def _deberta_bias(self, q: Tensor, k: Tensor, rel_embeddings: Tensor, relative_pos: Tensor) -> Tensor:
        """``c2p[i, j] = q_i . Pk[d(i, j)]`` and ``p2c[i, j] = k_j . Pq[d(j, i)]``, ``d`` the bucketed distance."""
        span = rel_embeddings.shape[0] // 2
        rel = F.dropout(rel_embeddings, self.dropout_rate, self.training)
        b, h, n, _ = q.shape
        score = torch.zeros((), dtype=q.dtype, device=q.device)
        if "c2p" in self.pos_att_type:
            pos_key = self._position_heads(self.k if self.share_att_key else self.pos_key_proj, rel)
            index = torch.clamp(relative_pos + span, 0, 2 * span - 1).expand(b, h, n, k.shape[2])
            score = score + torch.gather(torch.matmul(q, pos_key.transpose(-1, -2)), -1, index)
        if "p2c" in self.pos_att_type:
            pos_query = self._position_heads(self.q if self.share_att_key else self.pos_query_proj, rel)
            index = torch.clamp(-relative_pos + span, 0, 2 * span - 1).expand(b, h, k.shape[2], n)
            score = score + torch.gather(torch.matmul(k, pos_query.transpose(-1, -2)), -1, index).transpose(-1, -2)
        return score

    def _transformer_xl_bias(self, q: Tensor, k: Tensor, pos: Tensor, r_w_bias: Tensor | None = None,
                             r_r_bias: Tensor | None = None) -> Tensor:
        """``u . k_j + (q_i + v) . R[i - j]``: ``pos`` is the sinusoid of distances ``0..k_len-1`` (``[k_len, d]``)."""
        if r_w_bias is None:
            r_w_bias, r_r_bias = self.r_w_bias, self.r_r_bias
        q_len, k_len = q.shape[2], k.shape[2]
        content = torch.einsum("nd,bnjd->bnj", r_w_bias, k)[:, :, None, :]
        r = self.r(pos).view(k_len, self.num_attention_heads, self.attention_key_size)
        by_distance = torch.einsum("bnid,rnd->bnir", q + r_r_bias[:, None], r)
        # query i sits at absolute position k_len - q_len + i; key j is at distance (that - j), clamped where masked
        distance = torch.arange(k_len - q_len, k_len, device=q.device)[:, None] - torch.arange(k_len, device=q.device)
        index = distance.clamp(min=0).expand(*by_distance.shape[:2], q_len, k_len)
        return content + by_distance.gather(-1, index)
