"""The tqdm progress bar that ``fit(verbose=1)`` adds, and the per-epoch line of ``verbose=2``."""

from __future__ import annotations

import time
from typing import Any

from ._callback import Callback


def format_logs(logs: dict[str, Any]) -> str:
    """``loss=0.1234 acc=0.5000`` from a logs dict."""
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())


class ProgbarLogger(Callback):
    """A tqdm bar per epoch showing the running averages of the epoch's logs.

    Per batch it only compares a clock with the next refresh time; the bar is redrawn at most every
    ``interval`` seconds, so its cost per step is well under a microsecond.

    Args:
        interval: seconds between redraws.
        verbose: 1 draws the bar, 2 prints one line per epoch.
    """

    def __init__(self, interval: float = 0.1, verbose: int = 1) -> None:
        self.interval = interval
        self.verbose = verbose
        self._bar: Any = None
        self._next = 0.0
        self._seen = 0

    def on_epoch_begin(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.monotonic()
        if self.verbose != 1:
            return
        from tqdm.auto import tqdm

        epochs = self.params.get("epochs")
        self._bar = tqdm(
            total=self.params.get("steps"),
            initial=self.trainer.local_step if self.trainer is not None else 0,
            desc=f"Epoch {epoch + 1}/{epochs}",
            dynamic_ncols=True,
            mininterval=self.interval,
            leave=True,
        )
        self._next = time.monotonic() + self.interval
        self._seen = self._bar.n

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        self._seen = local_step + 1
        now = time.monotonic()
        if now < self._next or self._bar is None:
            return
        self._next = now + self.interval
        self._bar.n = local_step + 1
        self._bar.set_postfix_str(format_logs(self.trainer.running_logs()), refresh=False)
        self._bar.refresh()

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:
            self._bar.n = self._seen
            self._bar.set_postfix_str(format_logs(logs or {}), refresh=False)
            self._bar.close()
            self._bar = None
        elif self.verbose == 2:
            seconds = time.monotonic() - self._epoch_start
            print(f"Epoch {epoch + 1}/{self.params.get('epochs')} - {seconds:.1f}s - {format_logs(logs or {})}")

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._bar is not None:  # an early stop inside an epoch
            self._bar.close()
            self._bar = None
