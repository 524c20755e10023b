"""Tiny models and data shared by the trainer tests, the resume/DDP workers and the benchmark."""

from __future__ import annotations

import gc

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VOCAB = 50
SEQ = 6
CLASSES = 3


class TinyClassifier(nn.Module):
    """Embedding (named ``word_embeddings``, as AdversarialTraining expects) -> mean pool -> dropout -> linear."""

    def __init__(self, hidden: int = 16, dropout: float = 0.1) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, hidden)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(hidden, CLASSES)

    def forward(self, token_ids: torch.Tensor, segment_ids: torch.Tensor | None = None) -> torch.Tensor:
        h = self.word_embeddings(token_ids)
        if segment_ids is not None:
            h = h + segment_ids.unsqueeze(-1).to(h.dtype)
        return self.dense(self.dropout(h.mean(dim=1)))


def token_data(n: int = 48, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` random token sequences, zero segments, and labels that depend on the tokens (learnable)."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, VOCAB, (n, SEQ), generator=g)
    segments = torch.zeros(n, SEQ, dtype=torch.long)
    labels = tokens[:, 0] % CLASSES
    return tokens, segments, labels


def collate(batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The original's batch convention: ``([token_ids, segment_ids], labels)``."""
    tokens, segments, labels = zip(*batch)
    return [torch.stack(tokens), torch.stack(segments)], torch.stack(labels)


def token_loader(n: int = 48, batch_size: int = 8, shuffle: bool = True, seed: int = 0) -> DataLoader:
    """A shuffling DataLoader of :func:`token_data` in the original's batch convention."""
    return DataLoader(TensorDataset(*token_data(n, seed)), batch_size=batch_size, shuffle=shuffle, collate_fn=collate)


def mlp(seed: int = 0, width: int = 16) -> nn.Module:
    """A 2-layer MLP on 4 features with 3 outputs, deterministic for ``seed``."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, width), nn.Tanh(), nn.Linear(width, CLASSES))


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    """Same keys and bit-identical tensors."""
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def nested_equal(a: object, b: object) -> bool:
    """Bit equality of nested dicts/lists of tensors and numbers (optimizer and scheduler states)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(nested_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(nested_equal(x, y) for x, y in zip(a, b))
    return a == b


def shutdown_distributed() -> None:
    """End a worker's process group cleanly: collect the DDP wrappers first, then barrier and destroy.

    A DDP wrapper left to interpreter shutdown (a dropped reference in a cycle, a live local) still holds gloo work;
    gloo's threads can then meet half-destroyed objects and abort the process after all its work is done (seen
    under load: "terminate called without an active exception", exit code -6, in about a third of the runs).
    """
    import torch.distributed as dist

    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


def checkpoint_names(folder: object) -> list[str]:
    """The committed checkpoint files in ``folder``, sorted (the run-id marker and temporaries left out)."""
    import os
    import re

    return sorted(n for n in os.listdir(folder) if re.fullmatch(r"checkpoint-\d+\.pt", n))  # type: ignore[arg-type]
