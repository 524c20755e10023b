"""Exponential moving average of the weights, stepped like a scheduler (``compile(scheduler=[ema, warmup])``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``shadow = decay * shadow + (1 - decay) * param`` for every trainable parameter.

    The shadow starts from the weights at construction. It is not a callback: the original's examples pass it in
    ``compile(scheduler=[ema, warmup])`` so that ``step()`` runs after every optimizer step, and ours does the same.
    ``state_dict``/``load_state_dict`` let ``save_to_checkpoint`` carry it across a resume.

    Args:
        model: the module whose parameters are averaged.
        decay: weight of the old average.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999) -> None:
        self.model = model
        self.decay = decay
        self.ema_weights: dict[str, torch.Tensor] = {
            name: param.detach().clone() for name, param in model.named_parameters() if param.requires_grad
        }
        self.model_weights: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def step(self) -> None:
        """Update the averages from the current weights."""
        for name, param in self.model.named_parameters():
            if name in self.ema_weights:
                self.ema_weights[name].mul_(self.decay).add_(param.detach(), alpha=1.0 - self.decay)

    @torch.no_grad()
    def apply_ema_weights(self) -> None:
        """Swap the averages into the model, keeping the raw weights for :meth:`restore_raw_weights`."""
        for name, param in self.model.named_parameters():
            if name in self.ema_weights:
                self.model_weights[name] = param.detach().clone()
                param.copy_(self.ema_weights[name])

    @torch.no_grad()
    def restore_raw_weights(self) -> None:
        """Put back the weights saved by :meth:`apply_ema_weights`."""
        for name, param in self.model.named_parameters():
            if name in self.model_weights:
                param.copy_(self.model_weights[name])
        self.model_weights = {}

    def state_dict(self) -> dict[str, Any]:
        """The decay and the averages (tensors only, so ``torch.load(weights_only=True)`` reads them)."""
        return {"decay": self.decay, "ema_weights": {k: v.clone() for k, v in self.ema_weights.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""
        theirs = {k: tuple(v.shape) for k, v in state["ema_weights"].items()}
        ours = {k: tuple(v.shape) for k, v in self.ema_weights.items()}
        if theirs != ours:
            diff = sorted(k for k in set(ours) | set(theirs) if ours.get(k) != theirs.get(k))
            raise ValueError(f"EMA state does not match the model's parameters (names or shapes): {diff}")
        self.decay = state["decay"]
        for k, v in state["ema_weights"].items():
            self.ema_weights[k].copy_(v)


def extend_with_exponential_moving_average(model: nn.Module, decay: float = 0.999) -> ExponentialMovingAverage:
    """Return an :class:`ExponentialMovingAverage` of ``model`` (the original's name and signature)."""
    return ExponentialMovingAverage(model, decay)
