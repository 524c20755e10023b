"""Decoding steps over a preallocated key/value cache, for the decoders of ``bert4torch.models``' one stack.

The model's own ``forward`` concatenates every layer's past keys and values with the new ones on each step (its
cache is immutable, so a caller may keep an old one): on a batch of 8 that copies more bytes per step than the
weights hold, and beam search copies the whole cache again to reorder it. Here one call owns its cache, buffers
sized for the whole generation. A decoder-only prompt runs through the same code as a step, every prompt token of a
row at once (its logits only at each row's last token); an encoder-decoder's prompt runs through the model's
``forward`` (the encoder, and the one start token), whose cache is then copied into the buffers. Each step writes one
key/value column in place and attends over the filled prefix. Both call the model's own modules (embeddings, norms,
activations, RoPE, position bias) in the order each ``TransformerLayer`` declares (``layer.norms``), and multiply by
the weights of its ``nn.Linear`` modules with the kernel fastest on a few rows (``_layout.py``). A model in training
mode, or one whose forward, layers or attention this step does not reproduce (:func:`family_of`), keeps the generic
path. The parity tests against ``transformers`` run gpt2, llama, qwen2, t5 and bart through this path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._layout import arranged, rows_product
from ._runner import Runner, checked

# torch >= 2.5 lets SDPA share key/value heads across query heads without copying them
_SDPA_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)


@dataclass(frozen=True)
class Family:
    """Where a decoder model keeps what a decoding step calls, found on the model (see :func:`family_of`).

    Every decoder of ``bert4torch.models`` is one stack: ``embeddings``, a ``ModuleList`` of ``TransformerLayer``
    (norm names and order in ``layer.norms``), an optional final norm and an LM head. A step calls these modules
    itself, one token per row; only where they sit differs between a decoder-only model and the decoder of an
    encoder-decoder.

    Attributes:
        decoder: the module holding the stack (the model, or its ``decoder``).
        layers: its layers.
        head: the LM head.
        final: the norm between the layers and the head, or None.
        head_scale: the multiplier of the head's input (tied-embedding T5, ``logit_scale``).
        logits_bias: a bias row added to the logits (BART), or None.
        rotary: the model's RoPE module (rotary families), or None.
        position_bias: ``(q_len, k_len) -> [1, heads, q_len, k_len]`` relative-position bias (T5), or None.
    """

    decoder: Any
    layers: nn.ModuleList
    head: nn.Linear
    final: nn.Module | None = None
    head_scale: float = 1.0
    logits_bias: Tensor | None = None
    rotary: Any = None
    position_bias: Callable[[int, int], Tensor] | None = None


def _norm(layer: Any, name: str | None, x: Tensor) -> Tensor:
    return x if name is None else layer._modules[name](x)


def _block(layer: Any, x: Tensor, run: StaticRunner, i: int) -> Tensor:
    """One ``TransformerLayer`` for ``[rows, hidden]``: ``post(x + f(pre(x)))`` per block, as its ``forward``."""
    before, after, ffn_before, ffn_after = layer.norms
    x = _norm(layer, after, x + run.attend(i, layer.multiHeadAttention, _norm(layer, before, x)))
    if layer.crossAttention is not None:
        cross = run.cross(i, layer.crossAttention, _norm(layer, "crossLayerNorm" if before else None, x))
        x = _norm(layer, None if before else "crossLayerNorm", x + cross)
    return _norm(layer, ffn_after, x + run.feed_forward(layer.feedForward, _norm(layer, ffn_before, x)))


def _stack_family(model: Any) -> Family | None:
    """The family of a decoder-only ``CausalLM`` or of an ``EncoderDecoderLM``'s decoder stack, else None."""
    owner = next((c for c in type(model).__mro__ if "forward" in c.__dict__), object)  # a subclass may override it
    if (owner.__module__, owner.__qualname__) == ("bert4torch.models._decoder", "CausalLM"):
        inputs = next(c for c in type(model).__mro__ if "layer_inputs" in c.__dict__)
        rotary = getattr(model, "rotary", None)
        # the base layer inputs (mask only), or LLaMA's (mask and RoPE angles); others (relative positions) differ
        if model.input_names() != ("token_ids",) or (inputs.__qualname__ != "CausalLM" and rotary is None):
            return None
        final = None if model.final_name is None else model._modules[model.final_name]
        return Family(model, model._modules[model.layers_name], model._modules[model.head_name], final,
                      rotary=rotary)
    if (owner.__module__, owner.__qualname__) == ("bert4torch.models._decoder", "EncoderDecoderLM"):
        d = model.decoder
        return Family(d, d.decoderLayer, d.lm_head, d.final_layer_norm, d.head_scale, d.final_logits_bias,
                      position_bias=d.relative_position_bias)
    return None


def family_of(model: Any) -> Family | None:
    """Where ``model``'s decoding steps live when they may run on a preallocated cache, else None (the generic
    path: training mode, an overridden ``forward``, a layer or attention this step does not reproduce, layers whose
    key/value shapes differ, or probabilities out)."""
    if not isinstance(model, nn.Module) or model.training:
        return None
    family = _stack_family(model)
    if family is None or getattr(family.decoder, "final_activation", None) not in (None, "linear"):
        return None
    if getattr(getattr(family.decoder, "config", None), "final_activation", "linear") != "linear":
        return None
    shapes = set()  # every layer's keys/values share one buffer
    for layer in family.layers:
        if type(layer).__qualname__ != "TransformerLayer" or type(layer).__module__ != "bert4torch.layers._transformer":
            return None
        for attn in (layer.multiHeadAttention, layer.crossAttention):
            if attn is not None and (attn.p_bias is not None or attn.return_attention_scores):
                return None
        shapes.add(tuple((a.num_key_value_heads, a.attention_key_size, a.attention_head_size) if a else None
                         for a in (layer.multiHeadAttention, layer.crossAttention)))
    return family if len(shapes) == 1 else None


def _preallocated(pairs: Any, capacity: int | None) -> tuple[Tensor, Tensor]:
    """Keys and values of a ``KVCache`` layer list, copied into one ``[layers, rows, heads, capacity, dim]`` buffer
    each (``capacity`` None: as long as they are)."""
    buffers = []
    for n in (0, 1):
        rows, heads, width, dim = pairs[0][n].shape
        buffer = pairs[0][n].new_empty(len(pairs), rows, heads, capacity or width, dim)
        for i, pair in enumerate(pairs):
            buffer[i, :, :, :width] = pair[n]
        buffers.append(buffer)
    return buffers[0], buffers[1]


def _copy_order(index: list[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """The row copies ``(into, from)`` that make rows ``rows[index]``, ordered so that no row is overwritten while a
    later copy still reads it; and the rows left in cycles (a swap), which need a saved copy of their sources."""
    moves = {into: source for into, source in enumerate(index) if source != into}
    readers = dict.fromkeys(moves.values(), 0)
    for source in moves.values():
        readers[source] += 1
    free = [into for into in moves if not readers.get(into)]
    order = []
    while free:
        into = free.pop()
        source = moves.pop(into)
        order.append((into, source))
        readers[source] -= 1
        if not readers[source] and source in moves:
            free.append(source)
    return order, sorted(moves)


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
        model: a model :func:`family_of` accepts.
        family: where its decoding modules are.
        seq2seq: whether ``model`` is an encoder-decoder.
        capacity: the longest decoder sequence the call may reach (prompt width, or 1, plus new tokens).
    """

    def __init__(self, model: Any, family: Family, seq2seq: bool, capacity: int) -> None:
        self.model, self.family, self.seq2seq, self.capacity = model, family, seq2seq, capacity
        self.decoder = family.decoder
        self.layers: nn.ModuleList = family.layers
        # [layers, rows, kv_heads, capacity, dim]: one buffer for every layer, so a beam's row moves in one copy
        self.keys = self.values = torch.empty(0)
        self.cross_keys: Tensor | None = None  # seq2seq: the encoder output projected by each layer, computed once
        self.cross_values: Tensor | None = None
        self.bias: Tensor | None = None  # [rows, 1, 1, capacity] hides left padding; None when there is none
        self.cross_bias: Tensor | None = None  # [rows, 1, 1, src_len] hides the source's padding
        self.position_bias: Tensor | None = None  # [1, heads, 1, capacity] (relative-position families)
        self.positions: Tensor | None = None  # [rows] the position id of each row's next token
        self._rope: Any = None  # this step's RotaryAngles (rotary families)
        self.length = 0  # filled columns
        self.prompt_width = 0  # the columns the prompt filled (the same in every copy of one prompt)
        self.prompt_of: Tensor | None = None  # [rows] the prompt each row continues
        self._prompt: Any = None  # in the prefill: the model's DecoderStep for the prompt (its mask, positions)
        self._weights: dict[tuple[nn.Linear, ...], tuple[Tensor, Tensor | None]] = {}  # arranged once per call

    def start(self, first: Tensor, mask: Tensor, source: Tensor | None = None) -> Tensor:
        """Run the prompt and keep its keys/values in the buffers; return its last logits ``[rows, vocab]``."""
        if not self.seq2seq:
            return self._prefill(first, mask)
        # encoder-decoder: the model's forward runs the encoder and the one start token, then its cache moves here
        prompt = Runner(self.model, seq2seq=True, use_cache=True)
        logits = prompt.start(first, mask, source)
        cache = prompt.cache
        self.keys, self.values = _preallocated(cache.self_attn, self.capacity)
        self.cross_keys, self.cross_values = _preallocated(cache.cross_attn, None)
        dtype = self.keys.dtype
        self.bias = _mask_bias(cache.key_mask, self.capacity, dtype)
        if cache.encoder_mask is not None:
            self.cross_bias = _mask_bias(cache.encoder_mask, cache.encoder_mask.shape[1], dtype)
        if self.family.position_bias is not None:
            self.position_bias = self.family.position_bias(1, self.capacity).to(dtype)
        self.positions = cache.key_mask.sum(dim=1)
        self.length = self.prompt_width = first.shape[1]
        self.prompt_of = torch.arange(first.shape[0], device=first.device)
        return logits

    def _prefill(self, ids: Tensor, mask: Tensor) -> Tensor:
        """A decoder-only prompt through the same layers as a step, every prompt token at once: the products use
        the step's weights (``_layout.py``: a bfloat16 ``nn.Linear`` on a CPU without bf16 arithmetic is 3x slower at
        32 rows), and the head reads only each row's last position."""
        from bert4torch.models._decoder import decoder_inputs  # the model's own masks and positions (family_of)

        rows, width = ids.shape
        attn = self.layers[0].multiHeadAttention  # every layer's are alike (family_of)
        dtype = attn.k.weight.dtype  # the keys' and values' dtype
        # positions counting real tokens only, and the causal bias with the padding's (None: SDPA's is_causal)
        self._prompt = prompt = decoder_inputs(ids, pad_id=None, attention_mask=mask, past=None, dtype=dtype)
        real = prompt.key_mask
        shape = (len(self.layers), rows, attn.num_key_value_heads, self.capacity)
        self.keys = ids.new_empty(*shape, attn.attention_key_size, dtype=dtype)
        self.values = ids.new_empty(*shape, attn.attention_head_size, dtype=dtype)
        self.bias = _mask_bias(real, self.capacity, dtype)
        # a padding position reads row 0 (its id may be any filler); it is never attended
        x = self.decoder.embeddings(ids.masked_fill(~real, 0), position_ids=prompt.position_ids)
        logits = self._run(x.reshape(rows * width, -1), rows, width, prompt.position_ids)
        self._prompt = None
        self.positions = real.sum(dim=1)
        self.prompt_width = width
        self.prompt_of = torch.arange(rows, device=ids.device)
        return checked(logits)

    def step(self, next_ids: Tensor) -> Tensor:
        """Feed one token per row (``[rows]``) and return the next logits ``[rows, vocab]`` in float32."""
        assert self.positions is not None
        if self.length >= self.capacity:
            raise RuntimeError(f"the preallocated cache holds {self.capacity} positions: all are used")
        # [rows, hidden]: one token per row, no length axis
        x = self.decoder.embeddings(next_ids[:, None], position_ids=self.positions[:, None])[:, 0]
        logits = self._run(x, next_ids.shape[0], 1, self.positions[:, None])
        self.positions = self.positions + 1
        return logits

    def _run(self, x: Tensor, rows: int, new: int, positions: Tensor) -> Tensor:
        """The layers for ``new`` tokens per row (``x``: ``[rows * new, hidden]``), then the head on each row's last
        token: float32 logits ``[rows, vocab]``."""
        family = self.family
        if family.rotary is not None:  # angles [rows, 1, new, dim] against q/k [rows, heads, new, dim]
            self._rope = family.rotary.angles(positions, x.dtype)
        for i, layer in enumerate(self.layers):
            x = _block(layer, x, self, i)
        self.length += new
        if new > 1:
            x = x.view(rows, new, -1)[:, -1]
        if family.final is not None:
            x = family.final(x)
        logits = self.linear(x * family.head_scale if family.head_scale != 1.0 else x, family.head)
        if family.logits_bias is not None:
            logits = logits + family.logits_bias
        return logits.float()

    def linear(self, x: Tensor, *linears: nn.Linear) -> Tensor:
        """``cat([lin(x) for lin in linears], -1)`` for the ``[rows, in]`` of a step (``_layout.py``)."""
        weights = self._weights.get(linears)
        if weights is None:
            weights = self._weights[linears] = arranged(*linears)
        return rows_product(x, *weights)

    def attend(self, i: int, attn: Any, h: Tensor) -> Tensor:
        """Self-attention of layer ``i`` for the new tokens of every row (one, or the prompt's): write their key/value
        columns, attend the filled prefix."""
        rows, heads, kv_heads = self.keys.shape[1], attn.num_attention_heads, attn.num_key_value_heads
        new, dk, dv = h.shape[0] // rows, attn.attention_key_size, attn.attention_head_size
        q, k, v = self.linear(h, attn.q, attn.k, attn.v).split([heads * dk, kv_heads * dk, kv_heads * dv], -1)
        # [rows * new, heads * dim] -> [rows, heads, new, dim] (one new token: a view, no copy)
        q = q.view(rows, new, heads, dk).transpose(1, 2)
        k, v = k.view(rows, new, kv_heads, dk).transpose(1, 2), v.view(rows, new, kv_heads, dv).transpose(1, 2)
        if self._rope is not None:
            q, k = self._rope.rotate(q), self._rope.rotate(k)
        end = self.length + new
        self.keys[i][:, :, self.length:end] = k
        self.values[i][:, :, self.length:end] = v
        keys, values = self.keys[i][:, :, :end], self.values[i][:, :, :end]
        if new > 1:  # the prompt (decoder-only, an empty cache): causal, and the padding when there is some
            return self._attention(attn, q, keys, values, self._prompt.bias, causal=self._prompt.is_causal)
        bias = None if self.bias is None else self.bias[..., :end]
        if self.position_bias is not None:
            relative = self.position_bias[..., self.capacity - end:]
            bias = relative if bias is None else bias + relative
        return self._attention(attn, q, keys, values, bias)

    def cross(self, i: int, attn: Any, h: Tensor) -> Tensor:
        """Cross-attention of layer ``i`` over the encoder output's keys/values cached by the prompt's run."""
        assert self.cross_keys is not None and self.cross_values is not None
        q = self.linear(h, attn.q).view(h.shape[0], attn.num_attention_heads, 1, attn.attention_key_size)
        return self._attention(attn, q, self.cross_keys[i], self.cross_values[i], self.cross_bias)

    def _attention(self, attn: Any, q: Tensor, keys: Tensor, values: Tensor, bias: Tensor | None,
                   causal: bool = False) -> Tensor:
        rows, heads, new, kv_heads = *q.shape[:3], keys.shape[1]
        extra = {}
        if kv_heads != heads and _SDPA_GQA:
            extra["enable_gqa"] = True
        elif kv_heads != heads:
            keys = keys.repeat_interleave(heads // kv_heads, dim=1)
            values = values.repeat_interleave(heads // kv_heads, dim=1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias, is_causal=causal, scale=attn.scale,
                                             **extra)
        # [rows, heads, new, dim] -> [rows * new, heads * dim] (one new token: a view)
        return self.linear(out.transpose(1, 2).reshape(rows * new, heads * out.shape[3]), attn.o)

    def feed_forward(self, ffn: Any, h: Tensor) -> Tensor:
        """A ``PositionWiseFeedForward`` (plain or gated) on ``[rows, hidden]``."""
        first, last = (ffn._modules[name] for name in ffn.linear_names)
        if ffn.gated is None:
            inner = ffn.intermediate_act_fn(self.linear(h, first))
        else:
            gate, up = self.linear(h, first, ffn._modules[ffn.gated]).chunk(2, dim=-1)
            inner = ffn.intermediate_act_fn(gate) * up
        return self.linear(inner, last)

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index``. Beam search moves rows among the copies of one prompt, which share the prompt's
        columns, padding, positions and encoder output: then only the generated columns of the rows that take another
        row's place are copied, in place, each in one copy across the layers. Any other reorder gathers everything."""
        assert self.positions is not None and self.prompt_of is not None
        prompt_of = self.prompt_of.index_select(0, index)
        if index.shape[0] == self.keys.shape[1] and torch.equal(prompt_of, self.prompt_of):
            self._move_rows(index)
            return
        self.prompt_of = prompt_of
        self.positions = self.positions.index_select(0, index)
        self.bias = None if self.bias is None else self.bias.index_select(0, index)
        self.cross_bias = None if self.cross_bias is None else self.cross_bias.index_select(0, index)
        self.keys, self.values = self.keys.index_select(1, index), self.values.index_select(1, index)
        if self.cross_keys is not None and self.cross_values is not None:
            self.cross_keys = self.cross_keys.index_select(1, index)
            self.cross_values = self.cross_values.index_select(1, index)

    def _move_rows(self, index: Tensor) -> None:
        """Rows ``index`` of the generated columns, in place (rows of one prompt: the rest is the same in each)."""
        order, cycles = _copy_order(index.tolist())
        generated = slice(self.prompt_width, self.length)
        buffers = [self.keys[:, :, :, generated], self.values[:, :, :, generated]]
        for into, source in order:
            for buffer in buffers:
                buffer[:, into].copy_(buffer[:, source])
        if cycles:  # rows that swap places: their sources are gathered before any is written
            moved = torch.tensor(cycles, device=index.device)
            for buffer in buffers:
                buffer.index_copy_(1, moved, buffer.index_select(1, index.index_select(0, moved)))
