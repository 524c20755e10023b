"""EarlyStopping: stop when a logged value stops improving."""

from __future__ import annotations

import math
from typing import Any

import torch

from ._monitor import Monitor
from ._utils import check_kwargs


class EarlyStopping(Monitor):
    """Stop training when ``monitor`` has not improved for ``patience`` checks.

    Args:
        monitor: the log key.
        min_delta: smallest change that counts as an improvement.
        patience: checks without improvement before stopping.
        verbose: print when stopping.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (max for accuracy-like names).
        method: check every ``'epoch'`` or every ``'step'``.
        baseline: a value the monitor must beat; until it does, the wait grows.
        restore_best_weights: put back the best weights when stopping (and at the end of training).
    """

    @check_kwargs
    def __init__(
        self,
        monitor: str = "loss",
        min_delta: float = 0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        method: str = "epoch",
        baseline: float | None = None,
        restore_best_weights: bool = False,
    ) -> None:
        self._setup(monitor, mode, method, min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.stopped_at: int | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.stopped_at = None
        self.best = math.inf if self.mode == "min" else -math.inf
        if self.baseline is not None:
            self.best = self.baseline
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _check(self, current: float | None, when: int) -> None:
        if current is None:
            return
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in self.trainer.unwrap().state_dict().items()}
            return
        self.wait += 1
        if self.wait > self.patience:
            self.stopped_at = when
            self.trainer.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                self.trainer.unwrap().load_state_dict(self.best_weights)
            if self.verbose and self.trainer.is_master():
                print(
                    f"EarlyStopping: {self.monitor} did not improve for {self.wait} {self.method}s; "
                    f"stopping at {when + 1}"
                )
