"""The base of the callbacks that watch a logged value every epoch or step."""

from __future__ import annotations

from typing import Any

from ._callback import Callback
from ._utils import check_choice


def _improvement_op(monitor: str, mode: str) -> str:
    # 'auto' follows Keras: accuracy-like names are maximised, everything else minimised.
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.startswith("fmeasure") or "f1" in monitor) else "min"
    return mode


class Monitor(Callback):
    """Reads ``monitor`` from the logs every epoch or step and hands it to ``_check``."""

    def _setup(self, monitor: str, mode: str, method: str, min_delta: float) -> None:
        check_choice("mode", mode, ("auto", "min", "max"))
        check_choice("method", method, ("epoch", "step"))
        self.monitor = monitor
        self.method = method
        self.mode = _improvement_op(monitor, mode)
        self.min_delta = abs(min_delta)

    def _improved(self, current: float, best: float) -> bool:
        if self.mode == "min":
            return current < best - self.min_delta
        return current > best + self.min_delta

    def _value(self, logs: dict[str, Any] | None) -> float | None:
        value = (logs or {}).get(self.monitor)
        if value is None:
            return None
        return float(value)

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "step":
            self._check(self._value(logs), global_step)

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "epoch":
            self._check(self._value(logs), epoch)

    def _check(self, current: float | None, when: int) -> None:
        raise NotImplementedError
