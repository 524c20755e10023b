"""Linear layers that read the same input, stored side by side in one buffer so they run as one GEMM for free.

Each weight stays its own parameter object with its own name and ``[out, in]`` shape, as checkpoints, optimizers
and ``state_dict`` see it; only its storage moves into a buffer shared with the rest of its group. The group's
concatenated weight is then a view (:func:`packed_linear`): q/k/v or gate/up projections run as one GEMM at
inference without a second copy of the weights.

Two layouts:

* row-major (encoders): a ``[sum(out), in]`` buffer; every weight stays contiguous, so ``state_dict`` can be
  written by ``safetensors`` as is.
* column-major (decoders): an ``[in, sum(out)]`` buffer. A decoding step multiplies one row by each matrix, and a
  matrix-vector product that streams its weights from memory reads ``[in, out]`` storage about 1.5x faster than
  ``[out, in]`` on CPU (384 -> 1152, weights out of cache: 73 us vs 112 us); products over hundreds of rows,
  forward or backward, cost the same either way. The weights are then not contiguous: ``save_pretrained`` and
  ``save_weights`` handle it, a hand-written ``safetensors.torch.save_file(model.state_dict())`` needs
  ``.contiguous()`` on each tensor.

Packing replaces ``.data`` and keeps the parameter objects, so an optimizer built earlier still holds them. It is
undone by anything that gives a parameter new storage (``.to()``, ``load_state_dict(assign=True)``); the models
pack again after ``.to()`` and after loading, and :func:`packed_linear` falls back to the separate linears when a
group is no longer packed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pack_linears(linears: Sequence[nn.Linear], *, column_major: bool = False) -> None:
    """Store the weights (and biases) of ``linears`` side by side in one buffer (see the module docstring).

    A no-op on the meta device, for mixed widths/dtypes/devices, and when the group is already packed this way.
    Biases are packed when every linear has one of the weights' dtype; otherwise they are left as they are.
    """
    weights = [lin.weight for lin in linears]
    first = weights[0]
    if first.device.type == "meta" or _packed_weight(linears, column_major) is not None:
        return
    if any(w.shape[1] != first.shape[1] or w.dtype != first.dtype or w.device != first.device for w in weights):
        return
    biases = [lin.bias for lin in linears]
    with_bias = all(b is not None and b.dtype == first.dtype and b.device == first.device for b in biases)
    sizes = [w.shape[0] for w in weights]
    total, width = sum(sizes), first.shape[1]
    with torch.no_grad():
        if column_major:
            wbuf = torch.empty(width, total, dtype=first.dtype, device=first.device)
        else:
            wbuf = torch.empty(total, width, dtype=first.dtype, device=first.device)
        bbuf = torch.empty(total, dtype=first.dtype, device=first.device) if with_bias else None
        start = 0
        for lin, n in zip(linears, sizes):
            if column_major:
                wbuf[:, start : start + n].copy_(lin.weight.t())
                lin.weight.data = wbuf[:, start : start + n].t()
            else:
                wbuf[start : start + n].copy_(lin.weight)
                lin.weight.data = wbuf[start : start + n]
            if bbuf is not None:
                bbuf[start : start + n].copy_(lin.bias)  # type: ignore[arg-type]
                lin.bias.data = bbuf[start : start + n]  # type: ignore[union-attr]
            start += n


def _consecutive(tensors: Iterable[Tensor], stride: tuple[int, ...], step: int) -> Tensor | None:
    """The first tensor when each one has ``stride`` and starts where the previous one ends in one storage."""
    first: Tensor | None = None
    offset = storage = 0
    for t in tensors:
        if first is None:
            first, offset, storage = t, t.storage_offset(), t.untyped_storage().data_ptr()
        if t.stride() != stride or t.storage_offset() != offset or t.untyped_storage().data_ptr() != storage:
            return None
        offset += t.shape[0] * step
    return first


def _packed_weight(linears: Sequence[nn.Linear], column_major: bool) -> Tensor | None:
    """The ``[sum(out), in]`` weight of a packed group as a view, or None when it is not packed that way."""
    total = sum(lin.weight.shape[0] for lin in linears)
    width = linears[0].weight.shape[1]
    stride, step = ((1, total), 1) if column_major else ((width, 1), width)
    first = _consecutive((lin.weight for lin in linears), stride, step)
    if first is None:
        return None
    return first.as_strided((total, width), stride, first.storage_offset())


def _group_views(linears: Sequence[nn.Linear]) -> tuple[Tensor, Tensor | None] | None:
    """The concatenated weight and bias of a packed group as views, or None when the group is not packed."""
    first = linears[0].weight
    weight = _packed_weight(linears, column_major=first.stride() == (1, sum(lin.weight.shape[0] for lin in linears)))
    biases = [lin.bias for lin in linears]
    if weight is None or (any(b is None for b in biases) and not all(b is None for b in biases)):
        return None
    if biases[0] is None:
        return weight, None
    head = _consecutive(biases, (1,), 1)  # type: ignore[arg-type]
    if head is None:
        return None
    return weight, head.as_strided((weight.shape[0],), (1,), head.storage_offset())


def packed_linear(x: Tensor, linears: Sequence[nn.Linear]) -> Tensor | None:
    """``cat([lin(x) for lin in linears], -1)`` as one GEMM when the group is packed (either layout).

    Returns None when it is not (the caller then runs the linears one by one). Inference only: through the view,
    gradients would reach the first parameter alone. The views are kept on the first linear, keyed by the data
    pointers of the group's parameters, so a decoding step pays a pointer comparison rather than a layout check
    (which costs more than a 384-wide matrix-vector product); new storage (``.to()``, loading) changes the key.
    """
    # _parameters, not lin.weight: nn.Module attribute lookups would cost more than the check itself
    key = tuple(p.data_ptr() for lin in linears for p in lin._parameters.values() if p is not None)
    cached = linears[0].__dict__.get("_packed_views")
    if cached is None or cached[0] != key:
        cached = (key, _group_views(linears))
        linears[0].__dict__["_packed_views"] = cached
    views = cached[1]
    return None if views is None else F.linear(x, *views)


def pack_model(model: nn.Module, *, column_major: bool) -> None:
    """Pack every group that a submodule names in ``packed_groups()``; with ``column_major``, every other
    ``nn.Linear`` too, on its own. Linears holding a parameter shared with another module (an LM head tied to the
    embedding) are left alone: the embedding's lookups want its rows contiguous."""
    counts: dict[int, int] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        counts[id(p)] = counts.get(id(p), 0) + 1

    def free(group: Sequence[nn.Linear]) -> bool:
        return all(counts.get(id(p), 0) == 1 for lin in group for p in lin.parameters())

    grouped: set[int] = set()
    for module in model.modules():
        groups = getattr(module, "packed_groups", None)
        for group in groups() if callable(groups) else ():
            grouped.update(id(lin) for lin in group)
            if free(group):
                pack_linears(group, column_major=column_major)
    if column_major:
        for module in model.modules():
            if isinstance(module, nn.Linear) and id(module) not in grouped and free((module,)):
                pack_linears((module,), column_major=True)


class PackedLinears:
    """Mixin for a model whose linears are packed (put it before ``nn.Module`` in the bases).

    ``pack_parameters()`` lays the weights out (the loader calls it after loading, ``build_transformer_model`` after
    building), and ``.to()``/``.half()``/``.cuda()``, which give every parameter a new tensor, lay them out again.
    Values, names and parameter objects are kept.
    """

    packed_column_major: ClassVar[bool] = False  # decoders: True (see the module docstring)

    def pack_parameters(self) -> None:
        """Pack the groups the submodules name (and, column-major, every other linear); see :func:`pack_model`."""
        pack_model(self, column_major=self.packed_column_major)  # type: ignore[arg-type]

    def _apply(self, fn: Any, recurse: bool = True) -> Any:
        super()._apply(fn, recurse)  # type: ignore[misc]
        self.pack_parameters()
        return self
