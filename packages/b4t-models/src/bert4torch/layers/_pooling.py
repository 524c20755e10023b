"""Sentence vectors from encoder outputs: ``get_pool_emb``."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def get_pool_emb(hidden_state: torch.Tensor | Sequence[torch.Tensor] | None = None, pooler: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, pool_strategy: str = "cls",
                 custom_layer: int | Sequence[int] | None = None) -> torch.Tensor:
    """Sentence vectors from encoder outputs.

    Args:
        hidden_state: the last layer ``[btz, seq, h]``, or the list of all layers (index 0 = embeddings).
        pooler: the pooled output (``pool_strategy='pooler'``).
        attention_mask: ``[btz, seq]`` 1 for real tokens (needed by the averaging/max strategies).
        pool_strategy: ``'pooler'``, ``'cls'``, ``'last-avg'``/``'mean'``, ``'last-max'``/``'max'``,
            ``'first-last-avg'`` (means of layers 1 and -1), ``'custom'`` (means of ``custom_layer``).
        custom_layer: layer index or indices for ``'custom'``.
    """
    if pool_strategy == "pooler":
        if pooler is None:
            raise ValueError("pool_strategy='pooler' needs the pooler output")
        return pooler
    layers = hidden_state if isinstance(hidden_state, (list, tuple)) else None
    last = layers[-1] if layers is not None else hidden_state
    if pool_strategy == "cls":
        return last[:, 0]
    if attention_mask is None:
        attention_mask = torch.ones(last.shape[:2], dtype=torch.long, device=last.device)
    if pool_strategy in ("last-avg", "mean"):
        return _masked_mean(last, attention_mask)
    if pool_strategy in ("last-max", "max"):
        # padding can never win the max
        return last.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(last.dtype).min).max(dim=1).values
    if pool_strategy == "first-last-avg":
        if layers is None:
            raise ValueError("'first-last-avg' needs all layers (output_all_encoded_layers=True)")
        return (_masked_mean(layers[1], attention_mask) + _masked_mean(layers[-1], attention_mask)) / 2
    if pool_strategy == "custom":
        if layers is None or custom_layer is None:
            raise ValueError("'custom' needs all layers and custom_layer")
        ids = [custom_layer] if isinstance(custom_layer, int) else list(custom_layer)
        return torch.stack([_masked_mean(layers[i], attention_mask) for i in ids]).mean(0)
    raise ValueError(f"unknown pool_strategy {pool_strategy!r}")
