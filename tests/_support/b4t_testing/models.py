"""Shared helpers for the model tests: tiny configs, inputs with padding, comparisons at non-padding positions."""

from __future__ import annotations

from typing import Any

import torch

TINY: dict[str, Any] = dict(
    vocab_size=99,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    max_position_embeddings=64,
    type_vocab_size=2,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


def random_inputs(batch: int = 3, length: int = 11, vocab: int = 99, seed: int = 0, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(token_ids, segment_ids, mask)`` with ids in ``[1, vocab)`` and a different amount of padding per row."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, vocab, (batch, length), generator=g)
    seg = torch.zeros_like(ids)
    mask = torch.ones_like(ids)
    for i in range(batch):
        n = length - 2 * i  # row 0 unpadded, then 2, 4, ... pad tokens
        ids[i, n:] = pad
        mask[i, n:] = 0
        seg[i, n // 2 : n] = 1
    return ids, seg, mask


def assert_close_masked(ours: torch.Tensor, ref: torch.Tensor, mask: torch.Tensor | None = None, atol: float = 1e-5) -> None:
    """Max abs difference at non-padding positions (``mask`` is ``[btz, seq]``) within ``atol``."""
    assert ours.shape == ref.shape, (ours.shape, ref.shape)
    if mask is not None and ours.dim() >= 2 and ours.shape[:2] == mask.shape:
        keep = mask.bool()
        ours, ref = ours[keep], ref[keep]
    diff = (ours.float() - ref.float()).abs().max().item()
    assert diff <= atol, f"max abs diff {diff} > {atol}"


def hf_save(model: Any, path: Any) -> None:
    """Save a transformers model (safetensors) into ``path``."""
    model.save_pretrained(str(path))


def first_output(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """The first tensor of ``model([ids])`` under ``no_grad`` (a module-level function, so a spawned process can
    unpickle it: test modules imported by pytest's importlib mode are not importable from a child)."""
    with torch.no_grad():
        out = model([ids])
    while isinstance(out, (list, tuple)):
        out = out[0]
    return out
