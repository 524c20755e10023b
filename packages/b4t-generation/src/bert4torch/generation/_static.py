"""Decoding steps over a preallocated key/value cache, for the decoder families whose block wiring is listed here.

The model's own ``forward`` concatenates every layer's past keys and values with the new ones on each step (its
cache is immutable, so a caller may keep an old one): on a batch of 8 that copies more bytes per step than the
weights hold, and beam search copies the whole cache again to reorder it. Here one call owns its cache: the prompt
runs through the model's ``forward`` once (``Runner.start``; its cache is copied into buffers sized for the whole
generation), then each step writes one key/value column in place and attends over the filled prefix. A step calls
the model's own submodules (embeddings, norms, activations, position tables) and multiplies by the weights of its
``nn.Linear`` modules with the kernel fastest on a few rows (``_layout.py``), so only the wiring of a block is
written here, once per family in :data:`FAMILIES`; a model not listed there, or in training mode, keeps the generic
path. The parity tests against ``transformers`` run every listed family through this path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._layout import arranged, rows_product
from ._runner import Runner

# torch >= 2.5 lets SDPA share key/value heads across query heads without copying them
_SDPA_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


@dataclass(frozen=True)
class Family:
    """How one decoder family embeds a token, runs a block and makes logits, in terms of its own submodules.

    Attributes:
        decoder: ``model -> the module holding the decoder stack`` (the model, or its ``decoder``).
        layers: the attribute of the decoder holding the ``nn.ModuleList`` of blocks.
        block_class: the class name every block must have (another block class may be wired otherwise).
        embed: ``(decoder, ids [rows], positions [rows]) -> [rows, hidden]`` (a step has no length axis).
        block: ``(layer, x, run, i) -> x``; ``run`` is the :class:`StaticRunner`, ``i`` the layer index, for
            ``run.attend(i, attention, x)``, ``run.cross(i, attention, x)`` and ``run.linear(x, *linears)``.
        head: ``(decoder, x, linear) -> logits``.
        rotary: ``(decoder, positions [rows], dtype) -> (cos, sin)``, each ``[rows, head_dim]``, for rotary
            families.
        position_bias: ``(decoder, capacity) -> [1, heads, 1, capacity]``, the self-attention bias of the last of
            ``capacity`` positions against all of them (relative-position families).
    """

    decoder: Callable[[Any], Any]
    layers: str
    block_class: str
    embed: Callable[[Any, Tensor, Tensor], Tensor]
    block: Callable[[Any, Tensor, StaticRunner, int], Tensor]
    head: Callable[[Any, Tensor, Callable[..., Tensor]], Tensor]
    rotary: Callable[[Any, Tensor, torch.dtype], tuple[Tensor, Tensor]] | None = None
    position_bias: Callable[[Any, int], Tensor] | None = None


def _gpt2_block(layer: Any, x: Tensor, run: StaticRunner, i: int) -> Tensor:
    x = x + run.attend(i, layer.multiHeadAttention, layer.layerNorm1(x))
    ffn = layer.feedForward
    return x + run.linear(ffn.act(run.linear(layer.layerNorm2(x), ffn.intermediateDense)), ffn.outputDense)


def _llama_block(layer: Any, x: Tensor, run: StaticRunner, i: int) -> Tensor:
    x = x + run.attend(i, layer.multiHeadAttention, layer.attnLayerNorm(x))
    ffn = layer.feedForward
    gate, up = run.linear(layer.ffnLayerNorm(x), ffn.intermediateDense, ffn.intermediateDense2).chunk(2, dim=-1)
    return x + run.linear(ffn.act(gate) * up, ffn.outputDense)


def _t5_block(layer: Any, x: Tensor, run: StaticRunner, i: int) -> Tensor:
    x = x + run.attend(i, layer.multiHeadAttention, layer.layerNorm1(x))
    x = x + run.cross(i, layer.crossAttention, layer.crossLayerNorm(x))
    ffn, h = layer.feedForward, layer.layerNorm2(x)
    if ffn.intermediateDense1 is None:  # t5.1.0: act(wi x)
        h = ffn.act(run.linear(h, ffn.intermediateDense))
    else:  # t5.1.1 and later: act(wi_0 x) * wi_1 x
        gate, up = run.linear(h, ffn.intermediateDense, ffn.intermediateDense1).chunk(2, dim=-1)
        h = ffn.act(gate) * up
    return x + run.linear(h, ffn.outputDense)


def _t5_head(decoder: Any, x: Tensor, linear: Callable[..., Tensor]) -> Tensor:
    hidden = decoder.final_layer_norm(x)
    if decoder.config.scale_decoder_outputs:  # the tied-embedding T5 scales before its head
        hidden = hidden * decoder.config.d_model**-0.5
    return linear(hidden, decoder.lm_head)


_GPT2 = Family(
    decoder=lambda model: model, layers="encoderLayer", block_class="GPT2Layer",
    embed=lambda decoder, ids, pos: decoder.embeddings(ids, pos), block=_gpt2_block,
    head=lambda decoder, x, linear: linear(decoder.LayerNormFinal(x), decoder.dense),
)
_LLAMA = Family(
    decoder=lambda model: model, layers="decoderLayer", block_class="LlamaLayer",
    embed=lambda decoder, ids, pos: decoder.embeddings(ids), block=_llama_block,
    head=lambda decoder, x, linear: linear(decoder.LayerNormFinal(x), decoder.lm_head),
    rotary=lambda decoder, pos, dtype: decoder.rotary(pos, dtype),
)
_T5 = Family(
    decoder=lambda model: model.decoder, layers="decoderLayer", block_class="T5DecoderLayer",
    embed=lambda decoder, ids, pos: decoder.embeddings(ids), block=_t5_block, head=_t5_head,
    position_bias=lambda decoder, capacity: decoder.relative_position_bias(1, capacity),
)

# (module, class) of the model class that defines ``forward`` -> its wiring
FAMILIES: dict[tuple[str, str], Family] = {
    ("bert4torch.models.gpt2", "GPT2"): _GPT2,
    ("bert4torch.models.llama", "Llama"): _LLAMA,
    ("bert4torch.models.qwen2", "Qwen2"): _LLAMA,
    ("bert4torch.models.t5", "T5"): _T5,
}


def family_of(model: Any) -> Family | None:
    """The wiring of ``model`` when its steps may run on a preallocated cache, else None (the generic path)."""
    if not isinstance(model, nn.Module) or model.training:
        return None
    owner = next((c for c in type(model).__mro__ if "forward" in c.__dict__), object)  # a subclass may override it
    family = FAMILIES.get((owner.__module__, owner.__qualname__))
    if family is None:
        return None
    decoder = family.decoder(model)
    layers = getattr(decoder, family.layers, ())
    if not layers or any(type(layer).__qualname__ != family.block_class for layer in layers):
        return None
    if getattr(getattr(decoder, "config", None), "final_activation", "linear") != "linear":
        return None  # probabilities out: the generic path turns them into scores as it always did
    return family


def _rotate_half(x: Tensor) -> Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _preallocated(pairs: Any, capacity: int | None) -> tuple[list[Tensor], list[Tensor]]:
    """Keys and values of a ``KVCache`` layer list, copied into buffers of ``capacity`` positions (None: as long)."""
    keys, values = [], []
    for key, value in pairs:
        rows, heads, width, dim = key.shape
        for source, into in ((key, keys), (value, values)):
            buffer = source.new_empty(rows, heads, capacity or width, dim)
            buffer[:, :, :width] = source
            into.append(buffer)
    return keys, values


def _mask_bias(real: Tensor, width: int, dtype: torch.dtype) -> Tensor | None:
    """``[rows, 1, 1, width]`` additive bias that hides the False columns of ``real``, None when none is False."""
    if bool(real.all()):
        return None
    bias = torch.zeros(real.shape[0], 1, 1, width, dtype=dtype, device=real.device)
    bias[:, 0, 0, :real.shape[1]].masked_fill_(~real, torch.finfo(dtype).min)
    return bias


class StaticRunner:
    """The model side of one generation on a preallocated cache, with ``Runner``'s interface.

    Args:
        model: a model whose family is in :data:`FAMILIES`.
        family: its wiring.
        seq2seq: whether ``model`` is an encoder-decoder.
        capacity: the longest decoder sequence the call may reach (prompt width, or 1, plus new tokens).
    """

    def __init__(self, model: Any, family: Family, seq2seq: bool, capacity: int) -> None:
        self.model, self.family, self.seq2seq, self.capacity = model, family, seq2seq, capacity
        self.decoder = family.decoder(model)
        self.layers: nn.ModuleList = getattr(self.decoder, family.layers)
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []
        self.cross_keys: list[Tensor] = []  # seq2seq: the encoder output projected by each layer, computed once
        self.cross_values: list[Tensor] = []
        self.bias: Tensor | None = None  # [rows, 1, 1, capacity] hides left padding; None when there is none
        self.cross_bias: Tensor | None = None  # [rows, 1, 1, src_len] hides the source's padding
        self.position_bias: Tensor | None = None  # [1, heads, 1, capacity] (relative-position families)
        self.positions: Tensor | None = None  # [rows] the position id of each row's next token
        self._rope: tuple[Tensor, Tensor] | None = None  # this step's (cos, sin) (rotary families)
        self.length = 0  # filled columns
        self._weights: dict[tuple[nn.Linear, ...], tuple[Tensor, Tensor | None]] = {}  # arranged once per call

    def start(self, first: Tensor, mask: Tensor, source: Tensor | None = None) -> Tensor:
        """Run the prompt through the model's ``forward`` (``Runner.start``) and move its cache into the buffers."""
        prompt = Runner(self.model, seq2seq=self.seq2seq, use_cache=True)
        logits = prompt.start(first, mask, source)
        cache = prompt.cache
        self.keys, self.values = _preallocated(cache.self_attn, self.capacity)
        self.cross_keys, self.cross_values = _preallocated(cache.cross_attn, None)
        dtype, width = self.keys[0].dtype, first.shape[1]
        real = cache.key_mask
        self.bias = _mask_bias(real, self.capacity, dtype)
        if cache.encoder_mask is not None:
            self.cross_bias = _mask_bias(cache.encoder_mask, cache.encoder_mask.shape[1], dtype)
        if self.family.position_bias is not None:
            self.position_bias = self.family.position_bias(self.decoder, self.capacity).to(dtype)
        self.positions = real.sum(dim=1)
        self.length = width
        return logits

    def step(self, next_ids: Tensor) -> Tensor:
        """Feed one token per row (``[rows]``) and return the next logits ``[rows, vocab]`` in float32."""
        assert self.positions is not None
        if self.length >= self.capacity:
            raise RuntimeError(f"the preallocated cache holds {self.capacity} positions: all are used")
        decoder, family = self.decoder, self.family
        x = family.embed(decoder, next_ids, self.positions)  # [rows, hidden]: one token per row, no length axis
        if family.rotary is not None:
            cos, sin = family.rotary(decoder, self.positions, x.dtype)
            self._rope = cos[:, None, None, :], sin[:, None, None, :]
        for i, layer in enumerate(self.layers):
            x = family.block(layer, x, self, i)
        self.length += 1
        self.positions = self.positions + 1
        return family.head(decoder, x, self.linear).float()

    def linear(self, x: Tensor, *linears: nn.Linear) -> Tensor:
        """``cat([lin(x) for lin in linears], -1)`` for the ``[rows, in]`` of a step (``_layout.py``)."""
        weights = self._weights.get(linears)
        if weights is None:
            weights = self._weights[linears] = arranged(*linears)
        return rows_product(x, *weights)

    def attend(self, i: int, attn: Any, h: Tensor) -> Tensor:
        """Self-attention of layer ``i`` for one new token per row: write its key/value column, attend the prefix."""
        rows, heads, kv_heads, dim = h.shape[0], attn.num_heads, attn.num_kv_heads, attn.head_dim
        q, k, v = self.linear(h, attn.q, attn.k, attn.v).split([heads * dim, kv_heads * dim, kv_heads * dim], -1)
        # [rows, heads * dim] -> [rows, heads, 1, dim]: with one query per row the heads need no transpose
        q, k, v = q.view(rows, heads, 1, dim), k.view(rows, kv_heads, 1, dim), v.view(rows, kv_heads, 1, dim)
        if self._rope is not None:
            cos, sin = self._rope
            q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        end = self.length + 1
        self.keys[i][:, :, self.length:end] = k
        self.values[i][:, :, self.length:end] = v
        bias = None if self.bias is None else self.bias[..., :end]
        if self.position_bias is not None:
            relative = self.position_bias[..., self.capacity - end:]
            bias = relative if bias is None else bias + relative
        return self._attention(attn, q, self.keys[i][:, :, :end], self.values[i][:, :, :end], bias)

    def cross(self, i: int, attn: Any, h: Tensor) -> Tensor:
        """Cross-attention of layer ``i`` over the encoder output's keys/values cached by the prompt's run."""
        q = self.linear(h, attn.q).view(h.shape[0], attn.num_heads, 1, attn.head_dim)
        return self._attention(attn, q, self.cross_keys[i], self.cross_values[i], self.cross_bias)

    def _attention(self, attn: Any, q: Tensor, keys: Tensor, values: Tensor, bias: Tensor | None) -> Tensor:
        heads, kv_heads = q.shape[1], keys.shape[1]
        extra = {}
        if kv_heads != heads and _SDPA_GQA:
            extra["enable_gqa"] = True
        elif kv_heads != heads:
            keys = keys.repeat_interleave(heads // kv_heads, dim=1)
            values = values.repeat_interleave(heads // kv_heads, dim=1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias, scale=attn.scale, **extra)
        return self.linear(out.reshape(q.shape[0], heads * q.shape[3]), attn.o)

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` (beam search): only the rows that take another row's place are copied, in place."""
        assert self.positions is not None
        self.positions = self.positions.index_select(0, index)
        self.bias = None if self.bias is None else self.bias.index_select(0, index)
        self.cross_bias = None if self.cross_bias is None else self.cross_bias.index_select(0, index)
        if index.shape[0] != self.keys[0].shape[0]:  # the row count changes (beams expanded): new buffers
            pick = [t.index_select(0, index) for t in (*self.keys, *self.values, *self.cross_keys, *self.cross_values)]
            n = len(self.keys)
            self.keys, self.values = pick[:n], pick[n:2 * n]
            self.cross_keys, self.cross_values = pick[2 * n:3 * n], pick[3 * n:]
            return
        moved = (index != torch.arange(index.shape[0], device=index.device)).nonzero().view(-1)
        if moved.numel():
            source = index.index_select(0, moved)
            filled = [b[:, :, :self.length] for b in (*self.keys, *self.values)]
            for buffer in (*filled, *self.cross_keys, *self.cross_values):
                buffer.index_copy_(0, moved, buffer.index_select(0, source))
