"""ReduceLROnPlateau: torch's scheduler of that name, driven by a logged value every epoch or step."""

from __future__ import annotations

from typing import Any

import torch

from ._monitor import Monitor
from ._utils import check_kwargs


class ReduceLROnPlateau(Monitor):
    """Multiply every learning rate by ``factor`` when ``monitor`` stalls for ``patience`` checks.

    The work is done by ``torch.optim.lr_scheduler.ReduceLROnPlateau`` (absolute ``min_delta`` threshold), built
    at train begin on the model's optimizer; ``patience`` counts as in Keras (the reduction comes at the
    ``patience``-th check without improvement).

    Args:
        monitor: the log key.
        factor: the multiplier (< 1).
        patience: checks without improvement before reducing.
        method: check every ``'epoch'`` or every ``'step'``.
        verbose: print each reduction.
        mode: ``'min'``, ``'max'`` or ``'auto'``.
        min_delta: smallest change that counts as an improvement.
        cooldown: checks to wait after a reduction before counting again.
        min_lr: floor of the learning rate.
    """

    @check_kwargs
    def __init__(
        self,
        monitor: str = "loss",
        factor: float = 0.1,
        patience: int = 10,
        method: str = "epoch",
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0,
    ) -> None:
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau needs factor < 1, got {factor}")
        self._setup(monitor, mode, method, min_delta)
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.min_lr = min_lr
        self.scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.trainer.optimizer,
            mode=self.mode,
            factor=self.factor,
            patience=max(self.patience - 1, 0),  # torch reduces after more than `patience` bad checks
            threshold=self.min_delta,
            threshold_mode="abs",
            cooldown=self.cooldown,
            min_lr=self.min_lr,
            eps=1e-12,
        )

    def _check(self, current: float | None, when: int) -> None:
        if current is None or self.scheduler is None:
            return
        groups = self.trainer.optimizer.param_groups
        before = [float(g["lr"]) for g in groups]
        self.scheduler.step(current)
        if self.verbose and self.trainer.is_master():
            for old, group in zip(before, groups):
                if group["lr"] != old:
                    new = group["lr"]
                    print(f"ReduceLROnPlateau: learning rate {old:.3g} -> {new:.3g} at {self.method} {when + 1}")
