"""Tensor surgery that loading options ask for (``load_variable``): the vocabulary's rows (``keep_tokens``,
``compound_tokens``) and a position table grown hierarchically (``hierarchical_position``).

Each reads the checkpoint tensor's shape: a tensor that already has the model's rows (a file that ``save_weights``
wrote after the surgery) is returned as it is, so loading one's own file never applies the surgery twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["expand_positions", "seq2seq_vocab_rows", "vocab_rows"]

logger = logging.getLogger("bert4torch.models")


def _compound_row(table: torch.Tensor, group: Sequence[int], axis: int) -> torch.Tensor:
    """The mean of a group's rows; a group naming an id outside the table gets the mean of every row (the original's
    fallback, so a brand-new token such as PromptBert's ``[X]`` starts as an average token)."""
    ids = [int(i) for i in group]
    if ids and all(0 <= i < table.shape[axis] for i in ids):
        return table.index_select(axis, torch.as_tensor(ids, dtype=torch.long)).mean(axis, keepdim=True)
    logger.warning("compound_tokens group %s names ids outside the %d-row vocabulary: its new row starts as the mean "
                   "of all rows", ids, table.shape[axis])
    return table.mean(axis, keepdim=True)


def vocab_rows(tensor: torch.Tensor, vocab_size: int, keep_tokens: Sequence[int] | None,
               compound_tokens: Sequence[Sequence[int]] | None, axis: int = 0) -> torch.Tensor:
    """``keep_tokens`` then ``compound_tokens`` applied to a tensor whose ``axis`` is the vocabulary.

    Args:
        tensor: the checkpoint's tensor.
        vocab_size: the full vocabulary (the config's ``vocab_size``): only a tensor with that many rows is reduced
            by ``keep_tokens``, only one with the kept rows is extended by ``compound_tokens``.
        keep_tokens: rows to keep, in order, or None.
        compound_tokens: one new row per group, the mean of the group's rows, or None.
        axis: the vocabulary axis (1 for a ``[1, vocab]`` logits bias).
    """
    if keep_tokens is not None and tensor.shape[axis] == vocab_size:
        tensor = tensor.index_select(axis, torch.as_tensor(list(keep_tokens), dtype=torch.long, device=tensor.device))
    kept = len(keep_tokens) if keep_tokens is not None else vocab_size
    if compound_tokens and tensor.shape[axis] == kept:
        tensor = torch.cat([tensor, *(_compound_row(tensor, group, axis) for group in compound_tokens)], axis)
    return tensor


def expand_positions(table: torch.Tensor, max_position: int, alpha: float | bool) -> torch.Tensor:
    """A ``[n, d]`` learned position table grown to ``max_position`` rows, hierarchically (Su Jianlin's decomposition,
    as the original's ``load_pos_embeddings``): ``p[i * n + j] = alpha * u[i] + (1 - alpha) * u[j]`` with
    ``u = (p - alpha * p[0]) / (1 - alpha)``; the first ``n`` rows stay as they are. A table with ``max_position`` rows
    or more is returned as it is."""
    rows = table.shape[0]
    if rows >= max_position:
        return table
    alpha = 0.4 if alpha is True else float(alpha)
    u = (table - alpha * table[:1]) / (1 - alpha)
    index = torch.arange(max_position, device=table.device)
    logger.warning("hierarchical_position=%s: the %d-row position table is extended to max_position=%d rows",
                   alpha, rows, max_position)
    return alpha * u[index // rows] + (1 - alpha) * u[index % rows]


# the vocabulary tensors of an encoder-decoder (T5, BART), by the end of our parameter name, and their vocabulary axis
_SEQ2SEQ_VOCAB_AXES = {"embeddings.word_embeddings.weight": 0, "lm_head.weight": 0, "final_logits_bias": 1}


def seq2seq_vocab_rows(name: str, tensor: torch.Tensor, config: Any) -> torch.Tensor:
    """:func:`vocab_rows` for parameter ``name`` of an encoder-decoder whose ``config`` has ``vocab_size``,
    ``keep_tokens`` and ``compound_tokens``: the shared embedding, the LM head and the logits bias ``[1, vocab]``."""
    axis = next((a for end, a in _SEQ2SEQ_VOCAB_AXES.items() if name.endswith(end)), None)
    if axis is None or (config.keep_tokens is None and not config.compound_tokens):
        return tensor
    return vocab_rows(tensor, config.vocab_size, config.keep_tokens, config.compound_tokens, axis)
