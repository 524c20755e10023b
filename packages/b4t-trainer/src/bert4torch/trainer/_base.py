"""BaseModel: Keras-like compile/fit for any nn.Module, with exact, crash-safe resume; and its DP/DDP forms.

The loop, per batch: ``on_batch_begin`` -> ``train_step`` (forward, loss, backward) -> ``on_train_step_end``
(adversarial training adds gradients here) -> optimizer step every ``grad_accumulation_steps`` batches ->
``on_batch_end``. Steps count batches, as in the original.

Exact resume: a checkpoint holds the weights, optimizer, schedulers (EMA included), AMP scaler, gradients of an
unfinished accumulation window, the counters, the epoch's running sums, History, and two RNG snapshots: the one
taken just before the current pass over the dataloader began (so the shuffled order can be rebuilt and the
consumed batches skipped) and the one at save time (so dropout continues identically).
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ._callback import Callback, CallbackList
from ._history import History
from ._io import atomic_torch_save, checkpoint_name, list_checkpoints, remove_stale_temporaries
from ._metrics import ResolvedMetric, compute_metrics, resolve_metrics, to_float
from ._progbar import ProgbarLogger
from ._utils import check_choice, check_kwargs, get_rng_state, set_rng_state

CHECKPOINT_FORMAT = "b4t-trainer-checkpoint"
CHECKPOINT_VERSION = 1
NAN_POLICIES = ("skip", "raise")


class CheckpointWarning(UserWarning):
    """A checkpoint file was unreadable and an older one was used instead."""


class BaseModel(nn.Module):
    """An ``nn.Module`` with Keras-like ``compile``/``fit``: subclass it, or wrap a module as ``BaseModel(net)``.

    Args:
        module: a module to wrap; its ``forward`` becomes this model's. Leave None when subclassing.

    Attributes:
        optimizer, criterion, scheduler: set by :meth:`compile`, usable in a custom ``fit``.
        global_step, local_step, epoch: progress counters (steps done in total and in the epoch; the epoch).
        stop_training: set True from a callback to stop after the current batch.
        retain_graph: keep the graph after backward (set by adversarial modes that need it).
    """

    def __init__(self, module: nn.Module | None = None) -> None:
        super().__init__()
        if module is not None:
            self.module = module
            self._b4t_wraps = True
        self._init_trainer_state()

    def _init_trainer_state(self) -> None:
        # Plain attributes, not submodules: nothing here enters the state dict.
        d = self.__dict__
        d.setdefault("_b4t_wraps", False)
        d["optimizer"] = None
        d["criterion"] = None
        d["scheduler"] = None
        d["_schedulers"] = []
        d["_metrics"] = []
        d["_scaler"] = None
        d["_autocast"] = None
        d["clip_grad_norm"] = None
        d["grad_accumulation_steps"] = 1
        d["nan_policy"] = "skip"
        d["retain_graph"] = False
        d["stop_training"] = False
        d["global_step"] = 0
        d["local_step"] = 0
        d["epoch"] = 0
        d["resume_step"] = 0
        d["resume_epoch"] = 0
        d["nan_steps"] = 0
        d["last_loss_finite"] = True
        d["last_loss_value"] = 0.0
        d["_fit_target"] = None
        d["_window_backwards"] = 0
        d["_epoch_sums"] = {}
        d["_epoch_count"] = 0
        d["_resume"] = None
        d["_data_pass"] = 0
        d["_data_iter"] = None
        d["_data_consumed"] = 0
        d["_data_pass_rng"] = None
        d["history"] = None
        d["_pending_epoch"] = None
        d["train_X"] = d["train_y"] = d["output"] = d["loss"] = d["loss_detail"] = None

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's forward; subclasses define their own."""
        if self._b4t_wraps:
            return self.module(*args, **kwargs)
        raise NotImplementedError("subclass BaseModel and define forward(), or wrap a module: BaseModel(net)")

    # ------------------------------------------------------------------ setup

    def unwrap(self) -> nn.Module:
        """The module whose state dict is saved: the wrapped one for ``BaseModel(net)``, DP and DDP; else self.

        Checkpoints therefore use the same keys whether written by a single process or by DDP.
        """
        return self.module if self._b4t_wraps else self

    def is_master(self) -> bool:
        """Whether this process prints and writes files (always, outside DDP)."""
        return True

    @check_kwargs
    def compile(
        self,
        loss: Callable[..., Any],
        optimizer: torch.optim.Optimizer,
        scheduler: Any = None,
        clip_grad_norm: float | None = None,
        use_amp: bool = False,
        metrics: Any = None,
        stateful_metrics: Any = None,
        grad_accumulation_steps: int = 1,
        *,
        mixed_precision: str | None = None,
        clip_gram_norm: float | None = None,
        nan_policy: str = "skip",
    ) -> None:
        """Set the loss, optimizer and training options (the original's order, plus keyword-only additions).

        Args:
            loss: ``loss(output, y)`` returning a tensor, a dict with ``'loss'`` (other entries are logged), or a
                tuple/list ``(loss, term1, ...)`` (terms logged as ``loss_1``, ...).
            optimizer: a torch optimizer over this model's parameters.
            scheduler: None, one scheduler, or a list; ``.step()`` is called on each after every optimizer step
                (skipped when the fp16 scaler skipped the step). An EMA from ``bert4torch.optimizers`` fits here.
            clip_grad_norm: max global gradient norm (None: no clipping).
            use_amp: the original's switch, same as ``mixed_precision='fp16'``.
            metrics: ``'accuracy'``, ``'mae'``, ``'mse'``, ``'mape'``, ``'msle'`` (and the original's aliases), a
                function returning a dict, ``{'name': fn}``, or a list of those; each gets ``(output, y)``.
            stateful_metrics: accepted for compatibility; every metric is averaged over the epoch.
            grad_accumulation_steps: batches per optimizer step; each batch's loss is divided by it.
            mixed_precision: None, ``'fp16'`` (autocast + GradScaler) or ``'bf16'`` (autocast).
            clip_gram_norm: the spelling of the original's tutorial, same as ``clip_grad_norm``.
            nan_policy: what a non-finite loss does. ``'skip'`` (default): the batch is not back-propagated
                (its loss is still logged, and counted in ``nan_steps``); if every batch of an accumulation window
                was skipped, that optimizer step and its scheduler steps are skipped too. ``'raise'``:
                FloatingPointError. Add ``TerminateOnNaN`` to stop at the first one.
        """
        if clip_gram_norm is not None:
            if clip_grad_norm is not None and clip_grad_norm != clip_gram_norm:
                raise ValueError("give clip_grad_norm or its alias clip_gram_norm, not both")
            clip_grad_norm = clip_gram_norm
        if use_amp:
            if mixed_precision not in (None, "fp16"):
                raise ValueError(f"use_amp=True means fp16 and conflicts with mixed_precision={mixed_precision!r}")
            mixed_precision = "fp16"
        check_choice("mixed_precision", mixed_precision, (None, "fp16", "bf16"))
        check_choice("nan_policy", nan_policy, NAN_POLICIES)
        if grad_accumulation_steps < 1:
            raise ValueError(f"grad_accumulation_steps must be >= 1, got {grad_accumulation_steps}")
        if not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        d = self.__dict__
        # Stored outside nn.Module's registry: a loss with buffers (CrossEntropyLoss(weight=...)) must not change
        # the model's state dict keys.
        d["criterion"] = loss
        d["optimizer"] = optimizer
        d["scheduler"] = scheduler
        if scheduler is None:
            d["_schedulers"] = []
        elif isinstance(scheduler, (list, tuple)):
            d["_schedulers"] = [s for s in scheduler if s is not None]
        else:
            d["_schedulers"] = [scheduler]
        for s in d["_schedulers"]:
            if not callable(getattr(s, "step", None)):
                raise TypeError(f"scheduler {s!r} has no step() method")
        d["_metrics"] = resolve_metrics(metrics)
        d["clip_grad_norm"] = clip_grad_norm
        d["grad_accumulation_steps"] = grad_accumulation_steps
        d["nan_policy"] = nan_policy
        d["mixed_precision"] = mixed_precision
        device_type = self._device_type()
        if mixed_precision is None:
            d["_autocast"] = None
            d["_scaler"] = None
        else:
            dtype = torch.float16 if mixed_precision == "fp16" else torch.bfloat16
            d["_autocast"] = (device_type, dtype)
            d["_scaler"] = torch.amp.GradScaler(device_type) if mixed_precision == "fp16" else None
        d["_trainable"] = [p for p in self.parameters() if p.requires_grad]

    def _device_type(self) -> str:
        for p in self.parameters():
            return p.device.type
        return "cpu"

    # ------------------------------------------------------------------ one step

    def _call_target(self) -> nn.Module:
        # A plain BaseModel(net) without hooks of its own only forwards to net: call net directly and save a
        # Module.__call__ per step. Subclasses, DP/DDP and hooked wrappers go through self as usual.
        if (
            type(self) is BaseModel
            and self._b4t_wraps
            and not (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks)
        ):
            return self.module
        return self

    def _forward(self, train_X: Any) -> Any:
        # The original's convention: a list/tuple of inputs is unpacked into forward's arguments.
        target = self.__dict__["_fit_target"]
        if target is None:
            target = self._call_target()
        if isinstance(train_X, (list, tuple)):
            return target(*train_X)
        if isinstance(train_X, Mapping):
            return target(**train_X)
        return target(train_X)

    def compute_loss(self, output: Any, train_y: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Call the criterion and split its result into the loss tensor and the extra terms to log."""
        result = self.criterion(output, train_y)
        if isinstance(result, torch.Tensor):
            return result, {}
        if isinstance(result, Mapping):
            if "loss" not in result:
                raise KeyError(f"a loss returning a dict must have a 'loss' entry, got {sorted(result)}")
            return result["loss"], {k: v for k, v in result.items() if k != "loss"}
        if isinstance(result, (tuple, list)) and result:
            return result[0], {f"loss_{i}": v for i, v in enumerate(result[1:], start=1)}
        raise TypeError(f"the loss returned {type(result).__name__}; expected a tensor, a dict or a tuple")

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate ``loss`` divided by the accumulation steps, through the fp16 scaler when there is one."""
        if self.grad_accumulation_steps > 1:
            loss = loss / self.grad_accumulation_steps
        if self._scaler is not None:
            loss = self._scaler.scale(loss)
        loss.backward(retain_graph=self.retain_graph)

    def train_step(self, train_X: Any, train_y: Any) -> tuple[Any, torch.Tensor, dict[str, Any]]:
        """Forward, loss and backward for one batch; returns ``(output, loss, loss_detail)``.

        Override to change the step and keep the loop. Adversarial callbacks call it again for their extra pass.
        """
        if self._autocast is not None:
            with torch.autocast(self._autocast[0], dtype=self._autocast[1]):
                output = self._forward(train_X)
                loss, detail = self.compute_loss(output, train_y)
        else:
            output = self._forward(train_X)
            loss, detail = self.compute_loss(output, train_y)
        value = loss.item()  # one host sync per step, reused for the logs
        finite = math.isfinite(value)
        self.__dict__["last_loss_value"] = value
        self.__dict__["last_loss_finite"] = finite
        if finite:
            self.backward(loss)
            self.__dict__["_window_backwards"] += 1
        elif self.nan_policy == "raise":
            raise FloatingPointError(f"loss is {loss.item()} at step {self.global_step}")
        return output, loss, detail

    def _optimizer_step(self) -> None:
        d = self.__dict__
        if d["_window_backwards"] == 0:  # every batch of the window had a non-finite loss: no update at all
            self.optimizer.zero_grad()
            return
        d["_window_backwards"] = 0
        scaler = self._scaler
        stepped = True
        if scaler is not None:
            if self.clip_grad_norm is not None:
                scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self._trainable, self.clip_grad_norm)
            scale = scaler.get_scale()
            scaler.step(self.optimizer)
            scaler.update()
            stepped = scaler.get_scale() >= scale  # a lowered scale means inf/nan grads and a skipped step
        else:
            if self.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(self._trainable, self.clip_grad_norm)
            self.optimizer.step()
        self.optimizer.zero_grad()
        if stepped:
            for s in self._schedulers:
                s.step()

    # ------------------------------------------------------------------ data

    def _start_data_pass(self) -> None:
        sampler = getattr(self.train_dataloader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):  # DistributedSampler: a new shuffle per pass
            sampler.set_epoch(self._data_pass)
        self.__dict__["_data_pass_rng"] = get_rng_state()
        self.__dict__["_data_iter"] = iter(self.train_dataloader)
        self.__dict__["_data_consumed"] = 0

    def _next_batch(self, callbacks: CallbackList) -> Any:
        d = self.__dict__
        if d["_data_iter"] is None:
            self._start_data_pass()
        try:
            batch = next(d["_data_iter"])
        except StopIteration:
            callbacks.on_dataloader_end()
            d["_data_pass"] += 1
            self._start_data_pass()
            try:
                batch = next(d["_data_iter"])
            except StopIteration:
                raise RuntimeError("the train dataloader yielded no batch") from None
        d["_data_consumed"] += 1
        return batch

    def running_logs(self) -> dict[str, float]:
        """The averages of this epoch's logs so far (what the progress bar shows)."""
        n = max(1, self._epoch_count)
        return {k: v / n for k, v in self._epoch_sums.items()}

    # ------------------------------------------------------------------ fit

    @check_kwargs
    def fit(
        self,
        train_dataloader: Iterable[Any],
        steps_per_epoch: int | None = None,
        epochs: int = 1,
        callbacks: list[Callback] | None = None,
        verbose: int = 1,
    ) -> History:
        """Train; returns the :class:`History` of epoch logs.

        Each batch is ``(X, y)``; a list/tuple ``X`` is unpacked into ``forward``. The dataloader is iterated
        continuously across epochs (``steps_per_epoch`` only sets the epoch length) and restarted when it runs out,
        after ``on_dataloader_end``. After :meth:`resume_from_checkpoint`, training continues from the saved point.

        Args:
            train_dataloader: an iterable of batches, usually a DataLoader.
            steps_per_epoch: batches per epoch (None: ``len(train_dataloader)``).
            epochs: epochs to train, counting those already done before a resume.
            callbacks: callbacks; the progress bar (``verbose``) and History are added automatically.
            verbose: 0 silent, 1 a progress bar, 2 one line per epoch (only the master process prints).
        """
        if self.optimizer is None:
            raise RuntimeError("call compile(loss, optimizer, ...) before fit()")
        check_choice("verbose", verbose, (0, 1, 2))
        if steps_per_epoch is None:
            try:
                steps_per_epoch = len(train_dataloader)  # type: ignore[arg-type]
            except TypeError:
                raise TypeError("the dataloader has no len(); pass steps_per_epoch") from None
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        d = self.__dict__
        d["train_dataloader"] = train_dataloader
        d["steps_per_epoch"] = steps_per_epoch
        d["epochs"] = epochs
        d["total_steps"] = steps_per_epoch * epochs
        d["stop_training"] = False

        history = History()
        cbs: list[Callback] = []
        if verbose and self.is_master():
            cbs.append(ProgbarLogger(verbose=verbose))
        cbs.extend(callbacks or [])
        cbs.append(history)
        params = {"epochs": epochs, "steps": steps_per_epoch, "verbose": verbose}
        for cb in cbs:
            cb.set_trainer(self)
            cb.set_params(params)
        clist = CallbackList(cbs)
        d["history"] = history

        start_epoch, start_local = self._begin_fit(history)
        try:
            clist.on_train_begin({})
            d["_fit_target"] = self._call_target()  # after on_train_begin, which may add hooks
            batch_begin = clist.hooks["on_batch_begin"]
            batch_end = clist.hooks["on_batch_end"]
            step_end = clist.hooks["on_train_step_end"]
            metrics: list[ResolvedMetric] = self._metrics
            accum = self.grad_accumulation_steps
            for epoch in range(start_epoch, epochs):
                d["epoch"] = epoch
                if epoch != start_epoch or start_local == 0:
                    d["_epoch_sums"] = {}
                    d["_epoch_count"] = 0
                    d["local_step"] = 0
                sums = d["_epoch_sums"]
                self.train()
                clist.on_epoch_begin(self.global_step, epoch, {})
                for local in range(d["local_step"], steps_per_epoch):
                    global_step = d["global_step"]
                    logs: dict[str, Any] = {}
                    for f in batch_begin:
                        f(global_step, local, logs)
                    train_X, train_y = self._next_batch(clist)
                    d["train_X"], d["train_y"] = train_X, train_y
                    output, loss, detail = self.train_step(train_X, train_y)
                    d["output"], d["loss"], d["loss_detail"] = output, loss, detail
                    # Read before on_train_step_end: an adversarial pass calls train_step again.
                    loss_value, finite = d["last_loss_value"], d["last_loss_finite"]
                    for f in step_end:
                        f(logs)
                    if (global_step + 1) % accum == 0:
                        self._optimizer_step()
                    logs["loss"] = loss_value
                    if not finite:
                        d["nan_steps"] += 1
                    for k, v in detail.items():
                        logs[k] = to_float(v)
                    if metrics:
                        compute_metrics(metrics, output, train_y, logs)
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + v
                    d["_epoch_count"] += 1
                    d["global_step"] = global_step + 1
                    d["local_step"] = local + 1
                    for f in batch_end:
                        f(global_step, local, logs)
                    if d["stop_training"]:
                        break
                epoch_logs = self.running_logs()
                if d["local_step"] >= steps_per_epoch:
                    d["epoch"] = epoch + 1  # what a checkpoint taken in on_epoch_end must record
                    d["local_step"] = 0
                d["_pending_epoch"] = (epoch, epoch_logs)
                clist.on_epoch_end(self.global_step, epoch, epoch_logs)
                d["_pending_epoch"] = None
                if d["stop_training"]:
                    break
            clist.on_train_end({})
            return history
        finally:
            # Also after a crash inside fit: the next fit starts fresh unless resumed again.
            d["_fit_target"] = None
            d["_resume"] = None
            d["_pending_epoch"] = None
            d["_data_iter"] = None  # shuts DataLoader workers down now rather than whenever the model is freed

    def _begin_fit(self, history: History) -> tuple[int, int]:
        d = self.__dict__
        state = d["_resume"]
        if state is None:
            d["global_step"] = 0
            d["local_step"] = 0
            d["epoch"] = 0
            d["_data_pass"] = 0
            d["_data_iter"] = None
            d["_window_backwards"] = 0
            d["nan_steps"] = 0
            # Gradients left by an earlier fit that stopped inside an accumulation window must not leak in.
            self.optimizer.zero_grad()
            return 0, 0
        t = state["trainer"]
        d["global_step"] = t["global_step"]
        d["epoch"] = t["epoch"]
        d["local_step"] = t["local_step"]
        d["_epoch_sums"] = dict(t.get("epoch_sums", {}))
        d["_epoch_count"] = t.get("epoch_count", 0)
        d["nan_steps"] = t.get("nan_steps", 0)
        d["_window_backwards"] = t.get("window_backwards", 0)
        d["_data_pass"] = t.get("data_pass", 0)
        d["_data_iter"] = None
        if "history" in t:
            history.load_state_dict(t["history"])
        rng = state.get("rng")
        if rng is not None and rng.get("data_pass") is not None:
            # Rebuild the pass over the dataloader exactly as it began, skip what was consumed, then continue
            # from the RNG state of the moment the checkpoint was taken.
            set_rng_state(rng["data_pass"])
            self._start_data_pass()
            d["_data_pass_rng"] = rng["data_pass"]
            for _ in range(t.get("data_consumed", 0)):
                next(d["_data_iter"])
            d["_data_consumed"] = t.get("data_consumed", 0)
        if rng is not None and rng.get("current") is not None:
            set_rng_state(rng["current"])
        return d["epoch"], d["local_step"]

    # ------------------------------------------------------------------ inference

    def predict(self, train_X: Any, return_all: int | None = None) -> Any:
        """Forward without gradients in eval mode (the previous mode is restored).

        Args:
            train_X: the inputs (a list/tuple is unpacked into ``forward``).
            return_all: when the output is a tuple, the index of the element to return (None: all).
        """
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                output = self._forward(train_X)
        finally:
            self.train(was_training)
        return output if return_all is None else output[return_all]

    def evaluate(self, dataloader: Iterable[Any], steps: int | None = None) -> dict[str, float]:
        """Average loss (when compiled) and metrics over ``dataloader`` in eval mode, without gradients."""
        was_training = self.training
        self.eval()
        sums: dict[str, float] = {}
        n = 0
        try:
            with torch.no_grad():
                for i, (X, y) in enumerate(dataloader):
                    if steps is not None and i >= steps:
                        break
                    output = self._forward(X)
                    logs: dict[str, float] = {}
                    if self.criterion is not None:
                        loss, detail = self.compute_loss(output, y)
                        logs["loss"] = loss.item()
                        logs.update({k: to_float(v) for k, v in detail.items()})
                    compute_metrics(self._metrics, output, y, logs)
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n += 1
        finally:
            self.train(was_training)
        return {k: v / max(1, n) for k, v in sums.items()}

    # ------------------------------------------------------------------ weights

    def _key_mapping(self, prefix: str | None, mapping: Mapping[str, str] | None) -> dict[str, str] | None:
        if mapping is not None and prefix is not None:
            raise ValueError("give prefix or mapping, not both")
        if mapping is not None:
            return dict(mapping)
        if prefix is None:
            return None
        target = self.unwrap() if prefix == "" else getattr(self.unwrap(), prefix)
        if not callable(getattr(target, "variable_mapping", None)):
            raise AttributeError(f"prefix={prefix!r} needs {type(target).__name__}.variable_mapping()")
        sub = target.variable_mapping()
        head = "" if prefix == "" else prefix + "."
        return {head + ours: theirs for ours, theirs in sub.items()}

    def save_weights(
        self, save_path: str | os.PathLike[str], prefix: str | None = None, mapping: Mapping[str, str] | None = None
    ) -> None:
        """Save the weights (atomically).

        Args:
            save_path: the file.
            prefix: the original's switch: None saves the plain state dict; ``''`` renames keys through
                ``self.variable_mapping()``; ``'bert'`` through ``self.bert.variable_mapping()``.
            mapping: an explicit ``{our_key: saved_key}`` rename (the later versions' argument); an empty dict
                saves the plain state dict.
        """
        state = self.unwrap().state_dict()
        renames = self._key_mapping(prefix, mapping)
        if renames:
            state = {renames.get(k, k): v for k, v in state.items()}
        if self.is_master():
            atomic_torch_save(state, save_path)

    def load_weights(
        self,
        load_path: str | os.PathLike[str],
        strict: bool = True,
        prefix: str | None = None,
        mapping: Mapping[str, str] | None = None,
    ) -> Any:
        """Load weights saved by :meth:`save_weights` (same ``prefix``/``mapping``); returns the key report."""
        state = torch.load(load_path, map_location="cpu", weights_only=True)
        if isinstance(state, Mapping) and state.get("format") == CHECKPOINT_FORMAT:
            state = state["model"]
        renames = self._key_mapping(prefix, mapping)
        if renames:
            inverse = {v: k for k, v in renames.items()}
            state = {inverse.get(k, k): v for k, v in state.items()}
        return self.unwrap().load_state_dict(state, strict=strict)

    def save_steps_params(self, save_path: str | os.PathLike[str]) -> None:
        """Save the training position: ``{'resume_epoch', 'resume_step', 'global_step'}``."""
        if self.is_master():
            atomic_torch_save(
                {"resume_epoch": self.epoch, "resume_step": self.local_step, "global_step": self.global_step}, save_path
            )

    def load_steps_params(self, save_path: str | os.PathLike[str]) -> dict[str, int]:
        """Load the position saved by :meth:`save_steps_params`; the next ``fit`` starts there.

        This restores the position only (the original's behaviour): use :meth:`resume_from_checkpoint` for an
        exact continuation (data order, RNG, optimizer).
        """
        params = torch.load(save_path, map_location="cpu", weights_only=True)
        d = self.__dict__
        d["resume_epoch"] = params["resume_epoch"]
        d["resume_step"] = params["resume_step"]
        d["_resume"] = {
            "trainer": {
                "epoch": params["resume_epoch"],
                "local_step": params["resume_step"],
                "global_step": params.get("global_step", 0),
            }
        }
        return dict(params)

    # ------------------------------------------------------------------ checkpoints

    def _checkpoint_state(self) -> dict[str, Any]:
        d = self.__dict__
        mid_window = d["global_step"] % self.grad_accumulation_steps != 0
        trainable = d.get("_trainable", [])
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "model": self.unwrap().state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "schedulers": [
                s.state_dict() if callable(getattr(s, "state_dict", None)) else None for s in self._schedulers
            ],
            "scaler": None if self._scaler is None else self._scaler.state_dict(),
            # Gradients of an unfinished accumulation window: without them the next step would differ.
            "grads": [p.grad for p in trainable] if mid_window else None,
            "trainer": {
                "global_step": d["global_step"],
                "epoch": d["epoch"],
                "local_step": d["local_step"],
                "epoch_sums": dict(d["_epoch_sums"]),
                "epoch_count": d["_epoch_count"],
                "nan_steps": d["nan_steps"],
                "window_backwards": d["_window_backwards"],
                "data_pass": d["_data_pass"],
                "data_consumed": d["_data_consumed"],
                "history": self._history_state(),
            },
            "rng": {"current": get_rng_state(), "data_pass": d["_data_pass_rng"]},
        }

    def _history_state(self) -> dict[str, Any]:
        d = self.__dict__
        if d["history"] is None:
            return {"epoch": [], "history": {}}
        state = d["history"].state_dict()
        pending = d["_pending_epoch"]
        # A checkpoint taken in on_epoch_end runs before History (always last) records that epoch: add it here,
        # or a resume from this checkpoint would lose the epoch's entry.
        if pending is not None and (not state["epoch"] or state["epoch"][-1] != pending[0]):
            state["epoch"].append(pending[0])
            for k, v in pending[1].items():
                state["history"].setdefault(k, []).append(v)
        return state

    def save_to_checkpoint(self, save_dir: str | os.PathLike[str], keep_last: int | None = 2) -> str | None:
        """Write a resumable checkpoint ``<save_dir>/checkpoint-<steps>.pt`` (temporary file, fsync, rename).

        Holds the weights, optimizer, schedulers (and EMA), AMP scaler, accumulated gradients, counters, History
        and RNG states. Older checkpoints beyond ``keep_last``, and temporary files left by killed writes, are
        deleted only after the new one is in place.
        Under DDP only the master writes, and every process waits for it.

        Args:
            save_dir: the folder.
            keep_last: how many checkpoints to keep (None: all).

        Returns:
            The path written (None on processes that do not write).
        """
        save_dir = os.fspath(save_dir)
        state = self._checkpoint_state()
        path = None
        if self.is_master():
            path = os.path.join(save_dir, checkpoint_name(self.global_step))
            atomic_torch_save(state, path)
            remove_stale_temporaries(save_dir)  # halves of writes torn by an earlier kill
            if keep_last is not None:
                for old in list_checkpoints(save_dir)[keep_last:]:
                    with contextlib.suppress(FileNotFoundError):
                        os.remove(old)
        self._barrier()
        return path

    def _barrier(self) -> None:
        """Wait for the other processes (a no-op outside DDP)."""

    def resume_from_checkpoint(self, path: str | os.PathLike[str], strict: bool = True) -> str:
        """Load a checkpoint; the next :meth:`fit` continues exactly where it was taken.

        Args:
            path: a checkpoint file, or a folder: its newest readable checkpoint is used (an unreadable one, e.g.
                torn by a disk failure, is skipped with a :class:`CheckpointWarning`).
            strict: strict weight loading.

        Returns:
            The file loaded.

        Raises:
            RuntimeError: called before :meth:`compile`.
            FileNotFoundError: the folder holds no readable checkpoint.
        """
        if self.optimizer is None:
            raise RuntimeError(
                "call compile() before resume_from_checkpoint(): the optimizer and schedulers are restored too "
                "(for the weights alone use load_weights(), which also reads these checkpoint files)"
            )
        path = os.fspath(path)
        candidates = list_checkpoints(path) if os.path.isdir(path) else [path]
        errors = []
        for candidate in candidates:
            try:
                state = torch.load(candidate, map_location="cpu", weights_only=True)
                if not isinstance(state, Mapping) or state.get("format") != CHECKPOINT_FORMAT:
                    raise ValueError("not a b4t-trainer checkpoint")
            except Exception as exc:  # a torn or foreign file: try the next older one
                errors.append(f"{candidate}: {exc}")
                warnings.warn(f"skipping unreadable checkpoint {candidate}: {exc}", CheckpointWarning, stacklevel=2)
                continue
            self._load_checkpoint_state(state, strict)
            return candidate
        raise FileNotFoundError(f"no readable checkpoint in {path}" + ("".join("\n  " + e for e in errors)))

    def _load_checkpoint_state(self, state: Mapping[str, Any], strict: bool) -> None:
        self.unwrap().load_state_dict(state["model"], strict=strict)
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        saved = state.get("schedulers") or []
        if len(saved) != len(self._schedulers):
            raise ValueError(f"the checkpoint has {len(saved)} schedulers, compile() was given {len(self._schedulers)}")
        for sched, s_state in zip(self._schedulers, saved):
            if s_state is not None:
                sched.load_state_dict(s_state)
        if self._scaler is not None and state.get("scaler"):
            self._scaler.load_state_dict(state["scaler"])
        grads = state.get("grads")
        trainable = self.__dict__.get("_trainable", [])
        for p, g in zip(trainable, grads or [None] * len(trainable)):
            p.grad = None if g is None else g.to(p.device)
        t = state["trainer"]
        d = self.__dict__
        d["resume_epoch"] = t["epoch"]
        d["resume_step"] = t["local_step"]
        d["global_step"] = t["global_step"]
        d["_resume"] = {"trainer": dict(t), "rng": state.get("rng")}

    # ------------------------------------------------------------------ summary

    def summary(self, print_fn: Callable[[str], None] | None = print) -> str:
        """A table of the top-level submodules with their parameter counts; printed, and returned."""
        rows = [("name", "type", "params", "trainable")]
        total = trainable = 0
        children = list(self.unwrap().named_children()) or [("", self.unwrap())]
        for name, child in children:
            n = sum(p.numel() for p in child.parameters())
            t = sum(p.numel() for p in child.parameters() if p.requires_grad)
            rows.append((name, type(child).__name__, f"{n:,}", f"{t:,}"))
        for p in self.unwrap().parameters():
            total += p.numel()
            trainable += p.numel() if p.requires_grad else 0
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.append("-" * len(lines[0]))
        lines.append(f"Total params: {total:,}  Trainable params: {trainable:,}  Non-trainable: {total - trainable:,}")
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text


class BaseModelDP(nn.DataParallel, BaseModel):
    """``nn.DataParallel`` with the trainer; ``BaseModelDP(model, device_ids=...)`` as for DataParallel.

    Checkpoints and ``save_weights`` hold the wrapped module's keys (no ``module.`` prefix).
    """

    def __init__(self, module: nn.Module, device_ids: Any = None, output_device: Any = None, dim: int = 0) -> None:
        nn.DataParallel.__init__(self, module, device_ids=device_ids, output_device=output_device, dim=dim)
        self.__dict__["_b4t_wraps"] = True


class BaseModelDDP(nn.parallel.DistributedDataParallel, BaseModel):
    """``DistributedDataParallel`` with the trainer. Only ``master_rank`` prints and writes files.

    Launch with ``torchrun`` (or the original's ``--local_rank`` launcher) after
    ``torch.distributed.init_process_group``. A ``DistributedSampler`` gets ``set_epoch`` at each pass over the
    data. Checkpoints hold the wrapped module's keys, so they load into a single-process model and back.
    The RNG state saved is the master's, and every rank resumes from it: weights, optimizer and the sampler's data
    order continue exactly; random draws such as dropout on ranks other than the master do not repeat the killed
    run's.

    Args:
        module: the model to wrap.
        *args: DistributedDataParallel's positional arguments.
        master_rank: the rank that prints and writes.
        **kwargs: DistributedDataParallel's keyword arguments (it rejects unknown ones itself).
    """

    def __init__(self, module: nn.Module, *args: Any, master_rank: int = 0, **kwargs: Any) -> None:
        nn.parallel.DistributedDataParallel.__init__(self, module, *args, **kwargs)
        self.__dict__["_b4t_wraps"] = True
        self.__dict__["master_rank"] = master_rank

    def is_master(self) -> bool:
        import torch.distributed as dist

        return not dist.is_initialized() or dist.get_rank() == self.master_rank

    def _barrier(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.barrier()
