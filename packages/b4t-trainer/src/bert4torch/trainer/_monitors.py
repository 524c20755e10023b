"""Callbacks that watch a logged value: EarlyStopping, ReduceLROnPlateau and TerminateOnNaN."""

from __future__ import annotations

import math
from typing import Any

import torch

from ._callback import Callback
from ._utils import check_choice, check_kwargs


def _improvement_op(monitor: str, mode: str) -> str:
    # 'auto' follows Keras: accuracy-like names are maximised, everything else minimised.
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.startswith("fmeasure") or "f1" in monitor) else "min"
    return mode


class _Monitor(Callback):
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


class EarlyStopping(_Monitor):
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


class ReduceLROnPlateau(_Monitor):
    """Multiply every learning rate by ``factor`` when ``monitor`` stalls for ``patience`` checks.

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

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best = math.inf if self.mode == "min" else -math.inf

    def _check(self, current: float | None, when: int) -> None:
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
            return
        if self.cooldown_counter > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            for group in self.trainer.optimizer.param_groups:
                old = float(group["lr"])
                new = max(old * self.factor, self.min_lr)
                if old - new > 1e-12:
                    group["lr"] = new
                    if self.verbose and self.trainer.is_master():
                        print(f"ReduceLROnPlateau: learning rate {old:.3g} -> {new:.3g} at {self.method} {when + 1}")
            self.cooldown_counter = self.cooldown
            self.wait = 0


class TerminateOnNaN(Callback):
    """Stop training after a batch whose loss is NaN or infinite."""

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"TerminateOnNaN: batch {global_step} has loss {loss}; stopping")
            self.trainer.stop_training = True
