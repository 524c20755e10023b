"""``sequence_padding``: pad/cut nested sequences to one shape; lists/arrays give numpy, tensors give a tensor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal


def sequence_padding(
    inputs: Sequence[Any],
    length: int | Sequence[int] | None = None,
    value: Any = 0,
    seq_dims: int = 1,
    mode: Literal["post", "pre"] = "post",
) -> Any:
    """Pad (or cut) a batch of sequences to a common length.

    Args:
        inputs: sequences: lists, numpy arrays, or torch tensors (all of one kind).
        length: target length of each of the first ``seq_dims`` dimensions; None takes the maximum over the batch.
        value: the padding value.
        seq_dims: how many leading dimensions of each item are padded.
        mode: 'post' pads at the end, 'pre' at the start; a longer sequence keeps its head either way.

    Returns:
        A numpy array for list/array inputs; a torch tensor (same dtype and device) for tensor inputs.

    Raises:
        ImportError: list or array inputs without numpy installed (the ``numpy`` extra).
        ValueError: an unknown ``mode``, a negative ``length``, or a ``length`` list of the wrong size.
    """
    if mode not in ("post", "pre"):
        raise ValueError(f"mode must be 'post' or 'pre', got {mode!r}")
    first = inputs[0] if len(inputs) else None
    if type(first).__module__.startswith("torch"):
        return _pad_tensors(inputs, _lengths(length, seq_dims, [t.shape for t in inputs]), value, seq_dims, mode)
    try:
        import numpy as np  # lazily: importing the tokenizers must not load numpy
    except ModuleNotFoundError as exc:
        raise ImportError("sequence_padding of lists or arrays returns a numpy array and needs numpy: "
                          "pip install 'b4t-tokenizers[numpy]' (torch tensors in give a tensor without it)") from exc

    arrays = [np.asarray(x) for x in inputs]
    lengths = _lengths(length, seq_dims, [a.shape for a in arrays])
    out = []
    for a in arrays:
        a = a[tuple(slice(0, n) for n in lengths)]  # longer sequences keep their head, whatever the mode
        pad = [(0, n - a.shape[d]) if mode == "post" else (n - a.shape[d], 0) for d, n in enumerate(lengths)]
        pad += [(0, 0)] * (a.ndim - seq_dims)
        out.append(np.pad(a, pad, "constant", constant_values=value))
    return np.array(out)


def _lengths(length: int | Sequence[int] | None, seq_dims: int, shapes: Sequence[Sequence[int]]) -> list[int]:
    """The target length of each padded dimension (the batch maximum where ``length`` is None)."""
    if length is None:
        return [max((int(s[d]) for s in shapes), default=0) for d in range(seq_dims)]
    if hasattr(length, "tolist"):
        length = length.tolist()  # a numpy array of lengths
    lengths = list(length) if isinstance(length, (list, tuple)) else [length] * seq_dims
    if len(lengths) != seq_dims:
        raise ValueError(f"length has {len(lengths)} entries for seq_dims={seq_dims}")
    for n in lengths:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"length must be None or ints >= 0 (one per sequence dimension), got {length!r}")
    return lengths


def _pad_tensors(inputs: Sequence[Any], lengths: list[int], value: Any, seq_dims: int, mode: str) -> Any:
    import torch

    out = []
    for t in inputs:
        for d, n in enumerate(lengths):
            if t.shape[d] > n:
                t = t.narrow(d, 0, n)  # longer sequences keep their head, whatever the mode
        padded = torch.full(list(lengths) + list(t.shape[seq_dims:]), value, dtype=t.dtype, device=t.device)
        index = tuple(
            slice(0, t.shape[d]) if mode == "post" else slice(n - t.shape[d], n) for d, n in enumerate(lengths)
        )
        padded[index] = t
        out.append(padded)
    return torch.stack(out)
