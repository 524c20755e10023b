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
        mode: 'post' pads at the end (and cuts the end), 'pre' at the start (and cuts the start).

    Returns:
        A numpy array for list/array inputs; a torch tensor (same dtype and device) for tensor inputs.

    Raises:
        ValueError: an unknown ``mode``, or a ``length`` list of the wrong size.
    """
    if mode not in ("post", "pre"):
        raise ValueError(f"mode must be 'post' or 'pre', got {mode!r}")
    first = inputs[0] if len(inputs) else None
    if type(first).__module__.startswith("torch"):
        return _pad_tensors(inputs, length, value, seq_dims, mode)
    import numpy as np  # lazily: importing the tokenizers must not load numpy

    arrays = [np.asarray(x) for x in inputs]
    if length is None:
        lengths = np.max([a.shape[:seq_dims] for a in arrays], axis=0) if arrays else np.zeros(seq_dims, int)
    elif isinstance(length, int):
        lengths = [length] * seq_dims
    else:
        lengths = list(length)
        if len(lengths) != seq_dims:
            raise ValueError(f"length has {len(lengths)} entries for seq_dims={seq_dims}")
    slices = tuple(np.s_[: int(n)] if mode == "post" else np.s_[-int(n) :] for n in lengths)
    out = []
    for a in arrays:
        a = a[slices] if all(int(n) > 0 for n in lengths) else a[tuple(np.s_[:0] for _ in lengths)]
        pad = [(0, int(n) - a.shape[d]) if mode == "post" else (int(n) - a.shape[d], 0) for d, n in enumerate(lengths)]
        pad += [(0, 0)] * (a.ndim - seq_dims)
        out.append(np.pad(a, pad, "constant", constant_values=value))
    return np.array(out)


def _pad_tensors(inputs: Sequence[Any], length: Any, value: Any, seq_dims: int, mode: str) -> Any:
    import torch

    if length is None:
        lengths = [max(int(t.shape[d]) for t in inputs) for d in range(seq_dims)]
    elif isinstance(length, int):
        lengths = [length] * seq_dims
    else:
        lengths = list(length)
        if len(lengths) != seq_dims:
            raise ValueError(f"length has {len(lengths)} entries for seq_dims={seq_dims}")
    out = []
    for t in inputs:
        for d, n in enumerate(lengths):
            size = t.shape[d]
            if size > n:
                t = t.narrow(d, 0, n) if mode == "post" else t.narrow(d, size - n, n)
        shape = list(lengths) + list(t.shape[seq_dims:])
        padded = torch.full(shape, value, dtype=t.dtype, device=t.device)
        index = tuple(
            slice(0, t.shape[d]) if mode == "post" else slice(n - t.shape[d], n) for d, n in enumerate(lengths)
        )
        padded[index] = t
        out.append(padded)
    return torch.stack(out)
