"""The Checkpoint callback (every write is atomic: a temporary file, then a rename)."""

from __future__ import annotations

import os
from typing import Any

from ._callback import Callback
from ._io import atomic_torch_save
from ._utils import check_choice, check_kwargs


class Checkpoint(Callback):
    """Save the run every epoch or every ``step_interval`` steps.

    Two ways, combinable:
        ``save_dir``: a resumable checkpoint via ``model.save_to_checkpoint(save_dir, keep_last)`` (weights,
        optimizer, schedulers, counters, RNG); ``model.resume_from_checkpoint(save_dir)`` continues exactly.
        ``checkpoint_path`` / ``optimizer_path`` / ``steps_params_path``: the original's separate files; the paths
        may hold ``{epoch}`` (1-based), ``{step}`` (steps done) and any log key, e.g. ``'model_{epoch}.pt'``.

    Args:
        checkpoint_path: weights file (``save_weights``).
        optimizer_path: optimizer ``state_dict`` file.
        steps_params_path: ``save_steps_params`` file.
        method: ``'epoch'`` or ``'step'``.
        step_interval: steps between saves with ``method='step'``.
        save_dir: folder of resumable checkpoints.
        keep_last: resumable checkpoints kept in ``save_dir`` (older ones are deleted after a save succeeds).
    """

    @check_kwargs
    def __init__(
        self,
        checkpoint_path: str | None = None,
        optimizer_path: str | None = None,
        steps_params_path: str | None = None,
        method: str = "epoch",
        step_interval: int = 100,
        save_dir: str | os.PathLike[str] | None = None,
        keep_last: int | None = 2,
    ) -> None:
        check_choice("method", method, ("epoch", "step"))
        if step_interval < 1:
            raise ValueError(f"step_interval must be >= 1, got {step_interval}")
        self.checkpoint_path = checkpoint_path
        self.optimizer_path = optimizer_path
        self.steps_params_path = steps_params_path
        self.method = method
        self.step_interval = step_interval
        self.save_dir = None if save_dir is None else os.fspath(save_dir)
        self.keep_last = keep_last

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.save_dir is not None:  # refuse another run's folder before training, not at the first save
            self.trainer.claim_save_dir(self.save_dir)

    def save_resumable(self) -> str | None:
        """Write the resumable checkpoint now (when there is a ``save_dir``); returns its path."""
        if self.save_dir is None:
            return None
        return self.trainer.save_to_checkpoint(self.save_dir, keep_last=self.keep_last)

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "step" and (global_step + 1) % self.step_interval == 0:
            self.process(self.trainer.epoch, global_step + 1, logs)

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self.method == "epoch":
            self.process(epoch, global_step, logs)

    def process(self, epoch: int, step: int, logs: dict[str, Any] | None) -> None:
        """Write everything configured; ``epoch`` is 0-based, ``step`` counts steps done."""
        trainer = self.trainer
        self.save_resumable()
        if not trainer.is_master():
            return
        fields = {**(logs or {}), "epoch": epoch + 1, "step": step}
        if self.checkpoint_path:
            trainer.save_weights(self.checkpoint_path.format(**fields))
        if self.optimizer_path:
            atomic_torch_save(trainer.optimizer.state_dict(), self.optimizer_path.format(**fields))
        if self.steps_params_path:
            trainer.save_steps_params(self.steps_params_path.format(**fields))
