"""Evaluator: evaluate during training and save when the monitored value improves."""

from __future__ import annotations

import inspect
import math
from typing import Any

from ._checkpoint import Checkpoint
from ._utils import check_choice, closest_hint

# Checkpoint's keyword arguments, which Evaluator passes on (one list, read from Checkpoint's signature)
CHECKPOINT_OPTIONS = tuple(inspect.signature(Checkpoint.__init__).parameters)[1:]


class Evaluator(Checkpoint):
    """Evaluate (override :meth:`evaluate`) and save when the monitored value improves.

    ``evaluate()`` returns a dict of values (or one number, stored under ``monitor``); they are added to the
    logs, so History, Logger and Tensorboard record them. On improvement the checkpoint paths are written.

    Args:
        monitor: the key in ``evaluate()``'s result to compare.
        mode: ``'max'`` or ``'min'``.
        verbose: print the result after each evaluation.
        **checkpoint: what to write on improvement, by keyword: the arguments of :class:`Checkpoint`
            (``checkpoint_path``, ``optimizer_path``, ``steps_params_path``, ``method``, ``step_interval``,
            ``save_dir``, ``keep_last``). Any other name is a TypeError naming the closest valid one.
    """

    def __init__(self, monitor: str = "perf", mode: str = "max", verbose: int = 1, **checkpoint: Any) -> None:
        check_choice("mode", mode, ("max", "min"))
        for key in checkpoint:
            if key not in CHECKPOINT_OPTIONS:
                valid = ["monitor", "mode", "verbose", *CHECKPOINT_OPTIONS]
                raise TypeError(f"Evaluator() got an unexpected keyword argument {key!r}.{closest_hint(key, valid)}")
        super().__init__(**checkpoint)
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
