"""Padding-free inference for the BERT-style encoder families: the linears run on real tokens only.

A batch of sequences is *packed*: the real tokens of every sequence are concatenated into one ``[tokens, hidden]``
matrix, sequences of equal length next to each other. Every linear, LayerNorm and activation then works on that
matrix, so no FLOP is spent on padding; attention runs once per run of equal-length sequences (a dense
``[n, heads, L, d]`` SDPA call on views of the packed q/k/v, no mask needed). The result equals the padded forward
at every real position, because the padded model's attention mask removes exactly the keys that packing leaves out.

The path talks to the model through its submodules (the frozen state-dict names: ``embeddings.word_embeddings``,
``encoderLayer.{i}.multiHeadAttention.{q,k,v,o}``, ``layerNorm1``, ``feedForward.intermediateDense``/``outputDense``,
``layerNorm2``) and reads their parameters into a flat plan of tensors, so it does not depend on how the layers
compute. It takes only models whose forward it reproduces exactly (:func:`unpadded_support`); the rest keep the
padded forward.

Entry points: :class:`UnpaddedEncoder` (the plan and the packed forward), :func:`pack_sequences` (token lists in),
:func:`pack_padded` (a padded batch in) and :func:`predict_unpadded` (``model.predict`` with the same outputs at real
positions).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bert4torch.activations import gelu, gelu_new, get_activation, swish
from bert4torch.layers import POST_NORM, BertLayer, LayerNorm, create_position_ids_from_input_ids

from ._encoder import BERT_BASE

__all__ = ["PackedTokens", "UnpaddedEncoder", "pack_padded", "pack_sequences", "predict_unpadded", "unpadded_support"]


@dataclass
class PackedTokens:
    """The real tokens of a batch, concatenated; sequences of equal length are adjacent.

    Attributes:
        token_ids: ``[tokens]`` long.
        segment_ids: ``[tokens]`` long, or None (segment 0 everywhere, as the padded model does).
        position_ids: ``[tokens]`` long: the position each token has in the padded model.
        lengths: the length of each packed sequence, in packed order.
        order: ``order[j]`` is the batch index of the j-th packed sequence.
        runs: ``(first_row, count, length)`` for every run of equal-length sequences (one attention call each).
    """

    token_ids: Tensor
    segment_ids: Tensor | None
    position_ids: Tensor
    lengths: list[int]
    order: list[int]
    runs: list[tuple[int, int, int]]

    @property
    def starts(self) -> list[int]:
        """The first row of each packed sequence."""
        out, row = [], 0
        for n in self.lengths:
            out.append(row)
            row += n
        return out


def _runs(lengths: Sequence[int]) -> list[tuple[int, int, int]]:
    runs: list[tuple[int, int, int]] = []
    row = 0
    for n in lengths:
        if runs and runs[-1][2] == n:
            first, count, _ = runs[-1]
            runs[-1] = (first, count + 1, n)
        else:
            runs.append((row, 1, n))
        row += n
    return runs


def pack_sequences(token_ids: Sequence[Sequence[int]], segment_ids: Sequence[Sequence[int]] | None = None, *,
                   position_start: int = 0, device: torch.device | str | None = None) -> PackedTokens:
    """Pack token id lists (no padding), shortest first; positions count from ``position_start`` in each sequence.

    Args:
        token_ids: one list of ids per sequence (each non-empty).
        segment_ids: the matching segment ids, or None.
        position_start: the first position id (RoBERTa-style models start after the padding id).
        device: where the tensors go.
    """
    order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
    lengths = [len(token_ids[i]) for i in order]
    if lengths and lengths[0] == 0:
        raise ValueError("pack_sequences needs non-empty sequences (a tokenized text holds at least its specials)")
    flat = [t for i in order for t in token_ids[i]]
    ids = torch.tensor(flat, dtype=torch.long, device=device)
    segs = None
    if segment_ids is not None:
        segs = torch.tensor([s for i in order for s in segment_ids[i]], dtype=torch.long, device=device)
    # position of each token inside its sequence: a ramp that restarts at every sequence start
    ramp = torch.arange(len(flat), dtype=torch.long, device=device)
    starts = torch.tensor([0, *lengths], dtype=torch.long, device=device).cumsum(0)[:-1]
    positions = ramp - torch.repeat_interleave(starts, torch.tensor(lengths, dtype=torch.long, device=device))
    return PackedTokens(ids, segs, positions + position_start, lengths, order, _runs(lengths))


def pack_padded(token_ids: Tensor, keep: Tensor, segment_ids: Tensor | None = None,
                position_ids: Tensor | None = None) -> PackedTokens:
    """Pack the real tokens of a padded batch, keeping the positions the padded model gives them.

    Args:
        token_ids: ``[btz, seq]``.
        keep: ``[btz, seq]`` bool, True at real tokens (any padding side).
        segment_ids: ``[btz, seq]`` or None.
        position_ids: ``[btz, seq]`` or None (then the column index, as absolute position embeddings use).
    """
    lengths_t = keep.sum(1)
    if bool((lengths_t == 0).any()):
        raise ValueError("a row of the batch has no real token; drop it before packing")
    order_t = torch.sort(lengths_t, stable=True).indices
    rows = keep[order_t]
    if position_ids is None:
        position_ids = torch.arange(token_ids.shape[1], device=token_ids.device).expand_as(token_ids)
    segs = segment_ids[order_t][rows] if segment_ids is not None else None
    lengths = lengths_t[order_t].tolist()
    return PackedTokens(token_ids[order_t][rows], segs, position_ids[order_t][rows], lengths, order_t.tolist(),
                        _runs(lengths))


def unpack(hidden: Tensor, packed: PackedTokens, batch_size: int, seq_len: int, keep: Tensor | None = None) -> Tensor:
    """``[tokens, h]`` back to ``[btz, seq, h]`` in batch order, zeros at padding.

    With ``keep`` (the mask given to :func:`pack_padded`) tokens return to their columns; without it every sequence
    starts at column 0 (right padding).
    """
    order = torch.tensor(packed.order, device=hidden.device)
    if keep is None:
        lengths = torch.tensor(packed.lengths, device=hidden.device)
        rows = torch.arange(seq_len, device=hidden.device)[None, :] < lengths[:, None]
    else:
        rows = keep[order]
    r, c = rows.nonzero(as_tuple=True)  # row-major: the packed order of the tokens
    out = hidden.new_zeros(batch_size, seq_len, hidden.shape[-1])
    out[order[r], c] = hidden
    return out


@dataclass
class _LayerPlan:
    """One encoder layer's tensors, read from its submodules."""

    qkv_weight: Tensor
    qkv_bias: Tensor | None
    o_weight: Tensor
    o_bias: Tensor | None
    ln1: tuple[Tensor | None, Tensor | None, float]
    ffn1_weight: Tensor
    ffn1_bias: Tensor | None
    ffn2_weight: Tensor
    ffn2_bias: Tensor | None
    ln2: tuple[Tensor | None, Tensor | None, float]
    heads: int
    key_size: int
    value_size: int
    scale: float
    act: Any


# oneDNN (the bf16/fp16 matmuls on CPU) keeps a primitive per input shape: rounding the rows of a batch up to a
# multiple of this keeps the set of shapes, and so the memory, bounded (fp32 runs through MKL, which keeps nothing)
ROW_BUCKET = 128

# families whose forward the packed path reproduces (class names; subclasses must not change the hooks below)
_FAMILIES = ("BERT", "Encoder", "RoBERTa", "ALBERT", "ALBERT_Unshared", "ELECTRA", "ERNIE")
_HOOKS = ("apply_on_layer_begin", "apply_on_layer_end", "compute_attention_bias", "build_attention_mask")


def _plain_norm(norm: Any) -> str | None:
    if not isinstance(norm, LayerNorm):
        return f"{type(norm).__name__} is not a bert4torch LayerNorm"
    if norm.norm_mode != "normal" or norm.conditional_size:
        return f"LayerNorm mode {norm.norm_mode!r} / conditional_size={norm.conditional_size} is not handled"
    return None


def _layer_support(layer: nn.Module) -> str | None:
    if type(layer).forward is not BertLayer.forward:
        return f"layer class {type(layer).__name__} has its own forward"
    if layer.norms != POST_NORM or layer.crossAttention is not None:
        return "only post-norm layers without cross-attention are handled"
    att = layer.multiHeadAttention
    if getattr(att, "p_bias", None) is not None or getattr(att, "return_attention_scores", False):
        return f"attention p_bias={att.p_bias!r} is not handled"
    return _plain_norm(layer.layerNorm1) or _plain_norm(layer.layerNorm2)


def unpadded_support(model: nn.Module) -> str | None:
    """None when :class:`UnpaddedEncoder` reproduces ``model``'s encoder exactly, else the reason it does not."""
    if not isinstance(model, BERT_BASE):
        return f"{type(model).__name__} is not an encoder family"
    family = next((c.__name__ for c in type(model).__mro__ if c.__module__.startswith("bert4torch.models.")
                   and c.__name__ in _FAMILIES), None)
    if family is None:
        return f"{type(model).__name__} is not one of the families {', '.join(_FAMILIES)}"
    for hook in _HOOKS:
        if getattr(type(model), hook) is not getattr(BERT_BASE, hook):
            return f"{type(model).__name__} overrides {hook}"
    if getattr(model, "use_task_id", False) or getattr(model, "custom_attention_mask", False):
        return "task ids / a custom attention mask are not handled"
    emb = model.embeddings
    if getattr(emb, "position_type", None) != "absolute" or getattr(emb, "hierarchical_position", None) is not None:
        return "only learned absolute positions are handled"
    if len(getattr(emb, "layer_add_embs", ())) or model.layer_norm_conds is not None:
        return "extra embeddings / conditional LayerNorm are not handled"
    if getattr(emb, "shared_segment_embeddings", False):
        return "shared segment embeddings are not handled"
    if emb.layerNorm is not None and (reason := _plain_norm(emb.layerNorm)):
        return reason
    for layer in model.encoderLayer:
        if reason := _layer_support(layer):
            return reason
    return None


def _norm_params(norm: LayerNorm, dtype: torch.dtype) -> tuple[Tensor | None, Tensor | None, float]:
    cast = (lambda t: None if t is None else t.detach().to(dtype))
    return cast(norm.weight), cast(norm.bias), norm.eps


def _cat_bias(linears: Sequence[nn.Linear], dtype: torch.dtype) -> Tensor | None:
    if all(lin.bias is None for lin in linears):
        return None
    return torch.cat([lin.bias if lin.bias is not None else lin.weight.new_zeros(lin.out_features)
                      for lin in linears]).detach().to(dtype)


# Activations applied in place to the fresh output of the first FFN linear: the same values, without writing a
# second [tokens, intermediate] buffer while the first is still warm in the cache (6% of the forward of eight short
# texts on one core). Other activations are called as they are.
_IN_PLACE: dict[Any, Any] = {
    gelu: torch.ops.aten.gelu_,
    gelu_new: lambda t: torch.ops.aten.gelu_(t, approximate="tanh"),
    F.relu: torch.relu_,
    swish: lambda t: F.silu(t, inplace=True),
}


def _layer_plan(layer: nn.Module, act: Any, dtype: torch.dtype) -> _LayerPlan:
    att, ffn = layer.multiHeadAttention, layer.feedForward
    fn = getattr(ffn, "intermediate_act_fn", None) or act
    cast = (lambda t: None if t is None else t.detach().to(dtype).contiguous())
    key_size = att.attention_key_size
    return _LayerPlan(
        qkv_weight=torch.cat([att.q.weight, att.k.weight, att.v.weight]).detach().to(dtype).contiguous(),
        qkv_bias=_cat_bias((att.q, att.k, att.v), dtype),
        o_weight=cast(att.o.weight), o_bias=cast(att.o.bias), ln1=_norm_params(layer.layerNorm1, dtype),
        ffn1_weight=cast(ffn.intermediateDense.weight), ffn1_bias=cast(ffn.intermediateDense.bias),
        ffn2_weight=cast(ffn.outputDense.weight), ffn2_bias=cast(ffn.outputDense.bias),
        ln2=_norm_params(layer.layerNorm2, dtype), heads=att.num_attention_heads, key_size=key_size,
        value_size=att.attention_head_size, scale=att.scale,
        act=_IN_PLACE.get(fn, fn),
    )


def varlen_attention(qkv: Tensor, runs: Sequence[tuple[int, int, int]], heads: int, key_size: int,
                     value_size: int, scale: float) -> Tensor:
    """Self-attention of every packed sequence over itself, one SDPA call per run of equal lengths.

    Args:
        qkv: ``[tokens, heads*(2*key_size + value_size)]``, the fused q/k/v projection of the packed tokens.
        runs: ``(first_row, count, length)`` from :class:`PackedTokens`.

    Returns:
        ``[tokens, heads*value_size]``, the context vectors in packed order.
    """
    dq = heads * key_size
    parts = []
    for first, count, length in runs:
        block = qkv[first:first + count * length].view(count, length, -1)
        q = block[..., :dq].view(count, length, heads, key_size).transpose(1, 2)
        k = block[..., dq:2 * dq].view(count, length, heads, key_size).transpose(1, 2)
        v = block[..., 2 * dq:].view(count, length, heads, value_size).transpose(1, 2)
        # the CPU kernel returns a transposed view of a [count, length, heads, d] buffer: back to rows for free
        parts.append(F.scaled_dot_product_attention(q, k, v, scale=scale).transpose(1, 2).reshape(count * length, -1))
    spare = qkv.shape[0] - sum(part.shape[0] for part in parts)
    if spare:  # the rows that round a bf16 batch up (see UnpaddedEncoder.forward)
        parts.append(qkv.new_zeros(spare, heads * value_size))
    return parts[0] if len(parts) == 1 else torch.cat(parts)


class UnpaddedEncoder:
    """The packed forward of a supported encoder (see :func:`unpadded_support`), over a plan of its tensors.

    The plan is read once from the model's submodules (q/k/v fused into one matrix, everything cast to ``dtype``);
    call :meth:`refresh` after changing the model's weights.

    Args:
        model: a BERT-family model (eval behaviour: dropout is not applied).
        dtype: the compute dtype (``torch.float32``, or ``torch.bfloat16`` on CPUs with bf16 matrix units).
    """

    def __init__(self, model: nn.Module, dtype: torch.dtype = torch.float32) -> None:
        reason = unpadded_support(model)
        if reason is not None:
            raise ValueError(f"the padding-free path cannot run this model: {reason}; use model.predict")
        self.model = model
        self.dtype = dtype
        self.refresh()

    def refresh(self) -> None:
        """Re-read the model's tensors (after training or loading new weights)."""
        model, dtype = self.model, self.dtype
        emb = model.embeddings
        cast = (lambda t: None if t is None else t.detach().to(dtype))
        self.word = cast(emb.word_embeddings.weight)
        self.position = cast(emb.position_embeddings.weight)
        self.segment = cast(emb.segment_embeddings.weight) if hasattr(emb, "segment_embeddings") else None
        self.emb_norm = _norm_params(emb.layerNorm, dtype) if emb.layerNorm is not None else None
        proj = emb.embedding_hidden_mapping_in
        self.emb_proj = None if proj is None else (cast(proj.weight), cast(proj.bias))
        act = get_activation(model.hidden_act)
        layers = list(model.encoderLayer)
        if getattr(type(model), "shared_layers", False) and len(layers) == 1:  # ALBERT: one layer, applied n times
            layers = layers * model.num_hidden_layers
        plans: dict[int, _LayerPlan] = {}
        self.layers = [plans.setdefault(id(layer), _layer_plan(layer, act, dtype)) for layer in layers]

    def embed(self, packed: PackedTokens) -> Tensor:
        """The embedding stage on packed tokens: word + segment + position, LayerNorm, projection."""
        x = F.embedding(packed.token_ids, self.word)
        if self.segment is not None:
            segments = packed.segment_ids
            x = x + (F.embedding(segments, self.segment) if segments is not None else self.segment[0])
        x = x + F.embedding(packed.position_ids, self.position)
        if self.emb_norm is not None:
            weight, bias, eps = self.emb_norm
            x = F.layer_norm(x, (x.shape[-1],), weight, bias, eps)
        if self.emb_proj is not None:
            x = F.linear(x, *self.emb_proj)
        return x

    @staticmethod
    def layer(p: _LayerPlan, x: Tensor, runs: Sequence[tuple[int, int, int]]) -> Tensor:
        """One post-LN encoder layer on packed rows ``x`` ``[tokens, hidden]``."""
        qkv = F.linear(x, p.qkv_weight, p.qkv_bias)
        ctx = varlen_attention(qkv, runs, p.heads, p.key_size, p.value_size, p.scale)
        h = F.linear(ctx, p.o_weight, p.o_bias).add_(x)
        x = F.layer_norm(h, (h.shape[-1],), p.ln1[0], p.ln1[1], p.ln1[2])
        h = F.linear(p.act(F.linear(x, p.ffn1_weight, p.ffn1_bias)), p.ffn2_weight, p.ffn2_bias).add_(x)
        return F.layer_norm(h, (h.shape[-1],), p.ln2[0], p.ln2[1], p.ln2[2])

    def forward(self, packed: PackedTokens, keep_layers: Sequence[int] | None = None) -> list[Tensor]:
        """Run the encoder on packed tokens.

        Args:
            packed: from :func:`pack_sequences` or :func:`pack_padded`.
            keep_layers: indices into ``[embeddings, layer 1, ..., layer n]`` to return (None: only the last).

        Returns:
            The kept hidden states, each ``[tokens, hidden]`` in packed order.
        """
        with torch.inference_mode():
            x = self.embed(packed)
            rows = x.shape[0]
            if self.dtype in (torch.bfloat16, torch.float16) and rows % ROW_BUCKET:
                x = torch.cat([x, x.new_zeros(ROW_BUCKET - rows % ROW_BUCKET, x.shape[1])])
            wanted = set(keep_layers) if keep_layers is not None else {len(self.layers)}
            wanted = {i % (len(self.layers) + 1) for i in wanted}
            kept = {0: x} if 0 in wanted else {}
            for i, plan in enumerate(self.layers, start=1):
                x = self.layer(plan, x, packed.runs)
                if i in wanted:
                    kept[i] = x
            return [kept[i][:rows] for i in sorted(kept)]

    __call__ = forward


_ENCODERS: weakref.WeakKeyDictionary[nn.Module, tuple[tuple[tuple[int, int], ...], UnpaddedEncoder]] = (
    weakref.WeakKeyDictionary()
)


def _cached_encoder(model: nn.Module) -> UnpaddedEncoder:
    """One plan per model, rebuilt when a parameter gets new storage or is changed in place."""
    key = tuple((p.data_ptr(), p._version) for p in model.parameters())
    hit = _ENCODERS.get(model)
    if hit is None or hit[0] != key:
        hit = (key, UnpaddedEncoder(model, next(model.parameters()).dtype))
        _ENCODERS[model] = hit
    return hit[1]


def _token_and_segment_ids(model: nn.Module, inputs: Any) -> tuple[Tensor, Tensor | None] | None:
    """``[token_ids(, segment_ids)]`` as the model reads them, or None for inputs this path does not take."""
    items = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not items or len(items) > 1 + (model.segment_vocab_size > 0) or model.custom_position_ids:
        return None
    token_ids = items[0]
    if not isinstance(token_ids, Tensor) or token_ids.is_floating_point() or token_ids.dim() != 2:
        return None
    return token_ids, items[1] if len(items) > 1 else None


def predict_unpadded(model: nn.Module, inputs: Any, return_all: int | None = None) -> Any:
    """``model.predict(inputs)`` through the packed path: the same outputs at every real position.

    Padding is where ``token_ids == model.token_pad_ids``. The model's own output stage (``apply_final_layers``:
    pooler, MLM, NSP) runs on the unpacked hidden states, which are zero at padded positions (the padded forward
    gives other, meaningless values there). Models :func:`unpadded_support` refuses, and inputs other than
    ``[token_ids(, segment_ids)]``, go to ``model.predict``.
    """
    ids = _token_and_segment_ids(model, inputs) if unpadded_support(model) is None else None
    if ids is None:
        return model.predict(inputs, return_all)
    token_ids, segment_ids = ids
    keep = token_ids != model.token_pad_ids
    positions = None
    if getattr(model, "roberta_position_ids", False):
        positions = create_position_ids_from_input_ids(token_ids, model.token_pad_ids)
    packed = pack_padded(token_ids, keep, segment_ids, positions)
    encoder = _cached_encoder(model)
    all_layers = bool(model.output_all_encoded_layers)
    hidden = encoder.forward(packed, keep_layers=range(len(encoder.layers) + 1) if all_layers else None)
    padded = [unpack(h, packed, token_ids.shape[0], token_ids.shape[1], keep) for h in hidden]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            output = model.apply_final_layers([padded, None])
    finally:
        model.train(was_training)
    return output if return_all is None else output[return_all]
