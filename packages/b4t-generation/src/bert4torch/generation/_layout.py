"""Linear layers on the few rows of a decoding step, over weights laid out for the CPU kernel fastest there.

A decoding step multiplies one row per sequence by every weight, so torch's matrix-vector and small-GEMM kernels
decide its speed, and they depend on the weight layout. Measured on the benchmark's GPT-2 (one thread): float32 reads
a ``[in, out]`` copy faster than the ``[out, in]`` weights, 1.5x at 4 rows (all 25 matrices: 6.3 ms against 9.5)
and 1.15x over a whole batch-1 generation (299 tokens/s against 259 with ``addmv`` on the weights as they are);
bfloat16 is the other way round: ``[out, in]`` with ``addmv`` on one row (2.6 ms against 5.2 for ``[in, out]``) and
``W @ x.T`` on several (2.6 ms against 3.9). The linears that read the same input (q/k/v, gate/up) become one
product over their concatenated weights.

The arranged weights are kept outside the modules (a weak mapping keyed by a group's first linear, so they go with
the model and are never saved) and rebuilt when a weight gets new storage, another dtype, or is changed in place. The
price is memory while the model lives: a float32 copy of every decoding weight; bfloat16 copies only the groups.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import torch
from torch import Tensor, nn

_Key = tuple[tuple[int, int, torch.dtype], ...]
_ARRANGED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], tuple[_Key, Tensor, Tensor | None]]] = (
    weakref.WeakKeyDictionary()
)
_BUILDING = threading.Lock()  # threads sharing a model build its copies once


def _key(linears: Sequence[nn.Linear]) -> _Key:
    return tuple((p.data_ptr(), p._version, p.dtype) for lin in linears for p in lin._parameters.values()
                 if p is not None)


def _arrange(linears: Sequence[nn.Linear]) -> tuple[Tensor, Tensor | None]:
    """The group's weights concatenated on ``out`` (``[out, in]``; float32: ``[in, out]``) and its biases."""
    weights = [lin.weight for lin in linears]
    weight = weights[0] if len(weights) == 1 else torch.cat(weights)
    if weight.dtype == torch.float32:
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
        weight: the arranged weight (``[in, out]`` in float32, else ``[out, in]``).
        bias: the arranged bias, or None.
    """
    if weight.dtype == torch.float32:
        return x @ weight if bias is None else torch.addmm(bias, x, weight)
    if x.shape[0] == 1:
        return (weight @ x[0] if bias is None else torch.addmv(bias, weight, x[0]))[None]
    return (weight @ x.t() if bias is None else torch.addmm(bias[:, None], weight, x.t())).t()
