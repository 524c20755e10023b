"""Linear layers on the few rows of a decoding step, over weights laid out for the CPU kernel fastest there.

A decoding step multiplies one row per sequence by every weight, so the small-GEMM kernel decides its speed, and
on the CPU that kernel depends on how the weights are laid out. Measured on the benchmark's GPT-2 (its 25 matrices,
2 threads, 2-core EPYC): float32 ``addmm`` packs the weight anew on every call, which costs more than the product
itself at a few rows; oneDNN's linear over weights packed once (``torch.ops.mkldnn._reorder_linear_weight``, what
inductor's freezing uses) takes 2.6 / 3.3 / 4.0 / 8.3 ms at 1 / 4 / 8 / 32 rows against 3.1 / 7.0 / 8.4 / 12.4 for
``addmm`` over an ``[in, out]`` copy, and 4.1 / 8.8 / 9.7 / 15.0 for ``F.linear`` on the weights as they are. Where
oneDNN cannot pack (a torch built without it, another device), float32 uses the ``[in, out]`` copy and ``addmm``.
Other dtypes keep ``[out, in]`` and ``F.linear``: in bfloat16 (torch 2.13, a CPU without bf16 arithmetic) it takes
1.8 ms at one row, against 12.9 for ``addmv`` with a bias and 15.1 for ``addmm`` over ``[in, out]``, and 3.3 / 6.1 /
11.9 ms at 2 / 4 / 8 rows (its cost grows with the rows, as a matrix-vector product per row would). From 12 rows
(a prompt) such a CPU multiplies in float32 instead, weights cast per call: 15.2 / 18.1 / 56.4 ms at 16 / 32 / 256
rows against 23.5 / 46.4 / 370 for ``F.linear`` in bfloat16.
The linears that read the same input (q/k/v, gate/up) become one product over their concatenated weights.

The arranged weights are kept outside the modules (a weak mapping keyed by a group's first linear, so they go with
the model and are never saved) and rebuilt when a weight gets new storage, another dtype, or is changed in place. The
price is memory while the model lives: a float32 copy of every decoding weight; bfloat16 copies only the groups.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_Key = tuple[tuple[int, int, torch.dtype], ...]
_ARRANGED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], tuple[_Key, Tensor, Tensor | None]]] = (
    weakref.WeakKeyDictionary()
)
_BUILDING = threading.Lock()  # threads sharing a model build its copies once


def _key(linears: Sequence[nn.Linear]) -> _Key:
    return tuple((p.data_ptr(), p._version, p.dtype) for lin in linears for p in lin._parameters.values()
                 if p is not None)


_PACK_ROWS = 64  # oneDNN's hint of the rows to come: any of 8-128 gives the timings above at 1-32 rows


@functools.cache
def _onednn_packs() -> bool:
    """Whether this torch packs float32 linear weights for oneDNN on the CPU (and computes with them)."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        w = torch.ops.mkldnn._reorder_linear_weight(torch.ones(2, 2), _PACK_ROWS)
        return bool(torch.ops.mkldnn._linear_pointwise(torch.ones(1, 2), w, None, "none", [], "").eq(2).all())
    except (AttributeError, NotImplementedError, RuntimeError):  # an op this build lacks, a CPU it refuses
        return False


_UPCAST_ROWS = 12  # from here a reduced-precision product is faster in float32 on a CPU without its arithmetic
_CAST_ELEMENTS = 1 << 23  # float32 weight elements cast at a time by such a product (32 MB)


@functools.cache
def _native_product(dtype: torch.dtype) -> bool:
    """Whether this CPU multiplies ``dtype`` with its own arithmetic (oneDNN on AVX512-BF16, AMX, AVX-NE-CONVERT)."""
    probe = {torch.bfloat16: "_is_mkldnn_bf16_supported", torch.float16: "_is_mkldnn_fp16_supported"}.get(dtype)
    if probe is None:
        return True
    try:
        return bool(getattr(torch.ops.mkldnn, probe)())
    except (AttributeError, RuntimeError):  # a build without the probe: assume no such arithmetic
        return False


def _arrange(linears: Sequence[nn.Linear]) -> tuple[Tensor, Tensor | None]:
    """The group's weights concatenated on ``out`` and its biases: float32 packed for oneDNN (else ``[in, out]``),
    other dtypes ``[out, in]``."""
    weights = [lin.weight for lin in linears]
    weight = weights[0].detach() if len(weights) == 1 else torch.cat(weights)
    if weight.dtype == torch.float32 and weight.device.type == "cpu" and _onednn_packs():
        weight = torch.ops.mkldnn._reorder_linear_weight(weight, _PACK_ROWS)
    elif weight.dtype == torch.float32:
        weight = weight.t().contiguous()
    if all(lin.bias is None for lin in linears):
        return weight, None
    return weight, torch.cat([lin.bias if lin.bias is not None else lin.weight.new_zeros(lin.out_features)
                              for lin in linears])


def arranged(*linears: nn.Linear) -> tuple[Tensor, Tensor | None]:
    """The weight and bias of ``linears`` laid out for :func:`rows_product` (built once, then kept)."""
    ids, key = tuple(id(lin) for lin in linears), _key(linears)
    hit = _ARRANGED.get(linears[0], {}).get(ids)
    if hit is None or hit[0] != key:
        with _BUILDING:
            groups = _ARRANGED.setdefault(linears[0], {})
            hit = groups.get(ids)
            if hit is None or hit[0] != key:
                hit = groups[ids] = (key, *_arrange(linears))
    return hit[1], hit[2]


def rows_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``cat([lin(x) for lin in linears], -1)`` for the rows ``x`` (``[rows, in]``), given ``arranged(*linears)``.

    Args:
        x: ``[rows, in_features]``, read by every linear of the group.
        weight: the arranged weight (oneDNN-packed or ``[in, out]`` in float32, else ``[out, in]``).
        bias: the arranged bias, or None.
    """
    if weight.is_mkldnn:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    if weight.dtype == torch.float32:
        return x @ weight if bias is None else torch.addmm(bias, x, weight)
    if x.shape[0] >= _UPCAST_ROWS and weight.device.type == "cpu" and not _native_product(weight.dtype):
        return _float32_product(x, weight, bias)
    return F.linear(x, weight, bias)


def _float32_product(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``F.linear`` of reduced-precision values computed in float32, in ``x.dtype``.

    Without bf16/fp16 arithmetic the reduced-precision kernel makes one pass over the weight per row. The values are
    exact in float32, and the product is accumulated in float32 and rounded once, as that kernel does. The weight is
    cast a slice of output rows at a time (at most ``_CAST_ELEMENTS``), so a large LM head is never copied whole.
    """
    xf, step = x.float(), max(1, _CAST_ELEMENTS // weight.shape[1])
    if weight.shape[0] <= step:
        return F.linear(xf, weight.float(), None if bias is None else bias.float()).to(x.dtype)
    out = x.new_empty(x.shape[0], weight.shape[0])
    for start in range(0, weight.shape[0], step):
        part = slice(start, start + step)
        out[:, part] = F.linear(xf, weight[part].float(), None if bias is None else bias[part].float())
    return out
