"""The gradient penalty: ``epsilon / 2 * ||d loss / d embedding||^2``, back-propagated through a double backward."""

from __future__ import annotations

from typing import Any

import torch

from ._perturb import embedding_params


def gradient_penalty_step(trainer: Any, options: dict[str, Any], state: None, logs: dict[str, Any] | None) -> None:
    """Add the penalty's gradient (the graph of the clean pass is kept for it)."""
    (_, param), *_ = embedding_params(trainer, options["emb_name"])
    (grad,) = torch.autograd.grad(trainer.loss, param, create_graph=True)
    gp = 0.5 * options["epsilon"] * (grad**2).sum()
    trainer.backward(gp)
    if logs is not None:
        logs["gradient_penalty"] = gp.item()
