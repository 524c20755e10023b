"""Tensorboard: logs as scalars through tensorboardX (the ``tensorboard`` extra), imported only here."""

from __future__ import annotations

import os
from typing import Any

from ._callback import Callback
from ._utils import check_choice, check_kwargs


def _summary_writer_class() -> Any:
    try:
        from tensorboardX import SummaryWriter
    except ImportError as exc:
        raise ImportError(
            "The Tensorboard callback needs tensorboardX: pip install 'b4t-trainer[tensorboard]'"
        ) from exc
    return SummaryWriter


class Tensorboard(Callback):
    """Writes the logs as tensorboard scalars named ``<prefix>/<key>``.

    Args:
        log_dir: the event-file folder.
        method: ``'epoch'`` (epoch averages) or ``'step'`` (every ``interval`` batches).
        interval: batches between step writes.
        prefix: scalar-name prefix.
        on_epoch_end_scalar_epoch: epoch scalars use the epoch number as x (True) or the global step (False).
    """

    @check_kwargs
    def __init__(
        self,
        log_dir: str | os.PathLike[str],
        method: str = "epoch",
        interval: int = 10,
        prefix: str = "train",
        on_epoch_end_scalar_epoch: bool = True,
    ) -> None:
        check_choice("method", method, ("epoch", "step"))
        self._writer_class = _summary_writer_class()  # fail at construction, not hours into a run
        self.log_dir = os.fspath(log_dir)
        self.method = method
        self.interval = interval
        self.prefix = prefix
        self.on_epoch_end_scalar_epoch = on_epoch_end_scalar_epoch
        self.writer: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.trainer is None or self.trainer.is_master():
            self.writer = self._writer_class(self.log_dir)

    def _scalars(self, logs: dict[str, Any] | None, x: int) -> None:
        if self.writer is None:
            return
        for k, v in (logs or {}).items():
            if isinstance(v, (int, float)):
                self.writer.add_scalar(f"{self.prefix}/{k}", v, x)

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "step" and (global_step + 1) % self.interval == 0:
            self._scalars(logs, global_step + 1)

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "epoch":
            self._scalars(logs, epoch + 1 if self.on_epoch_end_scalar_epoch else global_step)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
