"""Checks of a forward's ids, so a bad input is a ``TypeError``/``ValueError`` naming the input and its fix instead of
``index out of range in self`` from deep inside an embedding (or a device-side assert on a GPU).

Every family's forward calls :func:`check_ids` on what the user passed before anything reads it. A check costs one
``aminmax`` per id tensor and two host reads (under 1% of a MiniLM forward at batch 1 x 16 tokens:
``hatch run bench-models --section checks``). Nothing is checked while ``torch.jit.trace`` or ``torch.compile``
records the forward: a recorded graph holds no Python branch on values.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["check_ids", "check_positions"]


def _recording() -> bool:
    return torch.jit.is_tracing() or torch.compiler.is_compiling()


def _integer_matrix(ids: object, name: str, like: Tensor | None) -> Tensor:
    if not isinstance(ids, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer ids [batch, len], got {type(ids).__name__}; "
                        f"wrap it: torch.tensor(...)")
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer ids, got dtype {ids.dtype}; convert it with .long()")
    if ids.dim() != 2:
        fix = "add the batch axis: ids[None]" if ids.dim() == 1 else "pass [batch, len]"
        raise ValueError(f"{name} must be [batch, len], got shape {tuple(ids.shape)}; {fix}")
    if like is not None and ids.shape != like.shape:
        raise ValueError(f"{name} has shape {tuple(ids.shape)}, token_ids {tuple(like.shape)}: give one "
                         f"{name[:-4]} per token")
    return ids


def check_ids(embeddings: nn.Module, token_ids: object, segment_ids: object = None, position_ids: object = None, *,
              pad_id: int | None = None) -> None:
    """Refuse ids a family's ``embeddings`` (a ``BertEmbeddings``) cannot look up, naming the input.

    Args:
        embeddings: The model's embedding module: its tables give the valid ranges.
        token_ids: ``[batch, len]`` integer ids (a float ``[batch, len, embedding_size]`` tensor is taken as
            already embedded, as ``BertEmbeddings`` takes it).
        segment_ids: Optional ids of the segment table, of token_ids' shape.
        position_ids: Optional ids of a learned position table (``[batch|1, len]``).
        pad_id: A negative padding id the family reads as row 0 (T5's and BART's -100), allowed besides the range.
    """
    if isinstance(token_ids, Tensor) and token_ids.is_floating_point() and token_ids.dim() == 3:
        return  # embeddings given directly (adversarial training perturbs them)
    ids = _integer_matrix(token_ids, "token_ids", None)
    if ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"token_ids is empty (shape {tuple(ids.shape)}): a batch needs a row and a token; "
                         f"skip empty batches before the model")
    vocab, segments, positions = _rows(embeddings)
    tables: list[tuple[str, Tensor, int]] = [("token_ids", ids, vocab)]
    if segment_ids is not None and segments is not None:
        tables.append(("segment_ids", _integer_matrix(segment_ids, "segment_ids", ids), segments))
    if position_ids is not None and positions is not None:
        one_row = isinstance(position_ids, Tensor) and position_ids.dim() == 2 and position_ids.shape[0] == 1
        tables.append(("position_ids", _integer_matrix(position_ids, "position_ids", None if one_row else ids),
                       positions))
    if _recording():
        return
    for name, tensor, rows in tables:
        low, high = (bound.item() for bound in torch.aminmax(tensor))
        if high >= rows:
            raise ValueError(_out_of_range(name, high, rows))
        if low < 0:
            negative = tensor[tensor < 0]
            if name == "token_ids" and pad_id is not None and pad_id < 0:  # the padding id may be negative
                negative = negative[negative != pad_id]
            if negative.numel():
                raise ValueError(_out_of_range(name, int(negative[0]), rows))


def check_positions(embeddings: nn.Module, position_ids: Tensor, longest: int) -> None:
    """Refuse positions past a learned table; ``longest`` bounds them (past + new tokens), so within it nothing runs."""
    rows = _rows(embeddings)[2]
    if rows is None or longest <= rows or _recording():
        return
    if (top := int(position_ids.max())) >= rows:
        raise ValueError(f"position {top} is past the model's {rows} positions (max_position): shorten the input, "
                         f"or the cached context, to at most {rows} tokens")


def _rows(embeddings: nn.Module) -> tuple[int, int | None, int | None]:
    """Rows of the word, segment (None: no table) and learned position (None: no table) lookups."""
    vocab = embeddings.word_embeddings.num_embeddings
    table = getattr(embeddings, "segment_embeddings", None)
    segments = vocab if getattr(embeddings, "shared_segment_embeddings", False) else (
        table.num_embeddings if isinstance(table, nn.Embedding) else None)
    table = getattr(embeddings, "position_embeddings", None)
    learned = isinstance(table, nn.Embedding) and getattr(embeddings, "hierarchical_position", None) is None
    positions = table.num_embeddings - getattr(embeddings, "position_offset", 0) if learned else None
    return vocab, segments, positions


def _out_of_range(name: str, value: int, rows: int) -> str:
    if value < 0:
        fix = "ids are row numbers, never negative (-100 marks labels to ignore, not inputs)"
    else:
        fix = {"token_ids": "the tokenizer's vocabulary is larger than the model's: load the model's own vocab.txt, "
                            "or build with keep_tokens= to cut the model's to the tokenizer's",
               "segment_ids": "segment ids index the segment table (type_vocab_size)",
               "position_ids": "shorten the input to the model's max_position"}[name]
    return f"{name} holds {value}, outside the {rows} rows of the model's table [0, {rows}): {fix}"
