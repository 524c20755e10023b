"""Evaluator: evaluate during training and save when the monitored value improves."""

from __future__ import annotations

import math
import os
from typing import Any

from ._checkpoint import Checkpoint
from ._utils import check_choice, check_kwargs


class Evaluator(Checkpoint):
    """Evaluate (override :meth:`evaluate`) and save when the monitored value improves.

    ``evaluate()`` returns a dict of values (or one number, stored under ``monitor``); they are added to the
    logs, so History, Logger and Tensorboard record them. On improvement the checkpoint paths are written.

    Args:
        monitor: the key in ``evaluate()``'s result to compare.
        mode: ``'max'`` or ``'min'``.
        verbose: print the result after each evaluation.
        checkpoint_path, optimizer_path, steps_params_path, method, step_interval, save_dir, keep_last:
            as for :class:`Checkpoint`.
    """

    @check_kwargs
    def __init__(
        self,
        monitor: str = "perf",
        mode: str = "max",
        verbose: int = 1,
        checkpoint_path: str | None = None,
        optimizer_path: str | None = None,
        steps_params_path: str | None = None,
        method: str = "epoch",
        step_interval: int = 100,
        save_dir: str | os.PathLike[str] | None = None,
        keep_last: int | None = 2,
    ) -> None:
        check_choice("mode", mode, ("max", "min"))
        Checkpoint.__init__(
            self, checkpoint_path, optimizer_path, steps_params_path, method, step_interval, save_dir, keep_last
        )
        self.monitor = monitor
        self.mode = mode
        self.verbose = verbose
        self.best_perf = -math.inf if mode == "max" else math.inf

    def evaluate(self) -> dict[str, float] | float:
        """Return the evaluation result; override this."""
        raise NotImplementedError("override Evaluator.evaluate() to return a dict of metrics")

    def process(self, epoch: int, step: int, logs: dict[str, Any] | None) -> None:
        result = self.evaluate()
        perf = dict(result) if isinstance(result, dict) else {self.monitor: result}
        if self.monitor not in perf:
            raise KeyError(f"Evaluator.evaluate() returned {sorted(perf)}, without the monitored key {self.monitor!r}")
        if logs is not None:
            logs.update(perf)
        current = float(perf[self.monitor])
        improved = current > self.best_perf if self.mode == "max" else current < self.best_perf
        if improved:
            self.best_perf = current
            super().process(epoch, step, logs)
        if self.verbose and self.trainer.is_master():
            shown = ", ".join(f"{k}: {v:.5f}" if isinstance(v, float) else f"{k}: {v}" for k, v in perf.items())
            where = epoch + 1 if self.method == "epoch" else step
            print(f"[{self.method} {where}] {shown}, best_{self.monitor}: {self.best_perf:.5f}")
