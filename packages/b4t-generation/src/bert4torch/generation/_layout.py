"""Linear layers on a few rows (decoding steps), over weights laid out for the kernel that is fastest there.

A decoding step multiplies one row per sequence by every weight, so torch's matrix-vector and small-GEMM kernels
decide its speed, and on CPU they depend on the weight layout. Measured on the benchmark's GPT-2 weights (all 25
matrices, one thread): float32 reads ``[in, out]`` weights 1.5x faster than ``[out, in]`` at 4 rows (6.3 ms against
9.5) and as fast at one row; bfloat16 is the other way round, ``W @ x.T`` on ``[out, in]`` weights at 2.6 ms against
3.9 at 4 rows and ``addmv`` at 2.5 ms against 5.2 at one row. Linears that read the same input (q/k/v, gate/up)
become one product over their concatenated weights.

The arranged copies are kept outside the modules (a weak mapping keyed by a group's first linear, so they go with
the model and are never saved) and rebuilt when a weight gets new storage, another dtype, or is changed in place.
Reduced-precision single linears use the module's own weight, so only float32 pays a copy's memory.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence

import torch
from torch import Tensor, nn

_Arranged = tuple[tuple[tuple[int, int, torch.dtype], ...], Tensor, Tensor | None]
_ARRANGED: weakref.WeakKeyDictionary[nn.Module, dict[tuple[int, ...], _Arranged]] = weakref.WeakKeyDictionary()
_BUILDING = threading.Lock()  # threads sharing a model build its arrangement once


def _key(linears: Sequence[nn.Linear]) -> tuple[tuple[int, int, torch.dtype], ...]:
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
    """The weights and bias of ``linears`` laid out for :func:`decode_linear` (built once, then kept)."""
    ids, key = tuple(id(lin) for lin in linears), _key(linears)
    hit = _ARRANGED.get(linears[0], {}).get(ids)
    if hit is None or hit[0] != key:
        with _BUILDING:
            groups = _ARRANGED.setdefault(linears[0], {})
            hit = groups.get(ids)
            if hit is None or hit[0] != key:
                hit = groups[ids] = (key, *_arrange(linears))
    return hit[1], hit[2]


def decode_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``cat([lin(x) for lin in linears], -1)`` for the few rows of a decoding step, given ``arranged(*linears)``.

    Args:
        x: ``[..., in_features]``, read by every linear.
        weight: the arranged weight (``[in, out]`` in float32, else ``[out, in]``).
        bias: the arranged bias, or None.

    Returns:
        ``[..., sum(out_features)]``.
    """
    flat = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])
    if weight.dtype == torch.float32:
        out = flat @ weight if bias is None else torch.addmm(bias, flat, weight)
    elif flat.shape[0] == 1:
        out = (weight @ flat[0] if bias is None else torch.addmv(bias, weight, flat[0]))[None]
    else:
        out = (weight @ flat.t() if bias is None else torch.addmm(bias[:, None], weight, flat.t())).t()
    return out if x.dim() == 2 else out.reshape(*x.shape[:-1], out.shape[-1])
