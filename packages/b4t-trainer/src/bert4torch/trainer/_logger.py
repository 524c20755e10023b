"""Logger: training progress written to a text file."""

from __future__ import annotations

import os
import time
from typing import IO, Any

from ._callback import Callback
from ._utils import check_choice, check_kwargs


class Logger(Callback):
    """Writes the run to ``log_path``: start and end, each epoch's averages, and a batch line every ``interval`` steps.

    Each line is ``<time><separator><message>`` and is flushed at once, so a killed run keeps its log.
    Only the master process writes under DDP.

    Args:
        log_path: the file (its folder is created).
        interval: write a batch line every this many steps (0: none).
        mode: ``'a'`` to append, ``'w'`` to truncate.
        separator: between the fields of a line.
        verbosity: 0 writes only start/end, 1 adds epochs, 2 adds batch lines too.
        name: a label put on the start line.
    """

    @check_kwargs
    def __init__(
        self,
        log_path: str | os.PathLike[str],
        interval: int = 10,
        mode: str = "a",
        separator: str = "\t",
        verbosity: int = 1,
        name: str | None = None,
    ) -> None:
        check_choice("mode", mode, ("a", "w"))
        self.log_path = os.fspath(log_path)
        self.interval = interval
        self.mode = mode
        self.separator = separator
        self.verbosity = verbosity
        self.name = name
        self._file: IO[str] | None = None

    def _write(self, *fields: object) -> None:
        if self._file is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            self._file.write(self.separator.join([stamp, *map(str, fields)]) + "\n")
            self._file.flush()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.trainer is not None and not self.trainer.is_master():
            return
        folder = os.path.dirname(self.log_path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self._file = open(self.log_path, self.mode, encoding="utf-8")
        self._write("Start Training" + (f" {self.name}" if self.name else ""))

    def on_epoch_begin(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.verbosity >= 1:
            self._write(f"Epoch {epoch + 1}")

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        if self.verbosity >= 2 and self.interval and (global_step + 1) % self.interval == 0:
            self._write(f"step {global_step + 1}", *(f"{k}={v}" for k, v in (logs or {}).items()))

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.verbosity >= 1:
            self._write(f"Epoch {epoch + 1} end", *(f"{k}={v}" for k, v in (logs or {}).items()))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._write("Finish Training")
        if self._file is not None:
            self._file.close()
            self._file = None
