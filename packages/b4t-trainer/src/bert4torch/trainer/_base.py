"""BaseModel: Keras-like compile/fit for any nn.Module, with exact, crash-safe resume.

The loop, per batch: ``on_batch_begin`` -> ``train_step`` (forward, loss, backward) -> ``on_train_step_end``
(adversarial training adds gradients here) -> optimizer step every ``grad_accumulation_steps`` batches (skipped,
as AMP's scaler does, when a gradient is not finite) -> ``on_batch_end``. Steps count batches, as in the original.

Weights, checkpoints and resume are in :mod:`._persist`; the state lives in one :class:`TrainerState`.
"""

from __future__ import annotations

import math
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ._callback import Callback, CallbackList
from ._history import History
from ._interrupt import stop_on_signals
from ._metrics import compute_metrics, resolve_metrics, to_float
from ._persist import PersistMixin
from ._progbar import ProgbarLogger
from ._state import PUBLIC_FIELDS, TrainerState, state_property
from ._summary import summary_table
from ._utils import check_choice, check_kwargs, closest_hint, forward_unpacks, get_rng_state, warn_ignored

NAN_POLICIES = ("skip", "raise")


class MetricNotFoundWarning(UserWarning):
    """A metric named in ``compile(metrics=...)`` is neither built in nor a key of the dict the loss returns."""


class NonFiniteGradientWarning(UserWarning):
    """An optimizer step was skipped because a gradient was NaN or infinite (``nan_policy='skip'``)."""


class BaseModel(PersistMixin, nn.Module):
    """An ``nn.Module`` with Keras-like ``compile``/``fit``: subclass it, or wrap a module as ``BaseModel(net)``.

    The trainer's state is one :class:`TrainerState` at ``self.state``; its public fields are also properties
    of the model (``model.global_step``, ``model.epoch``, ``model.optimizer``, ``model.bti``...).

    Args:
        module: a module to wrap; its ``forward`` becomes this model's. Leave None when subclassing.
    """

    def __init__(self, module: nn.Module | None = None) -> None:
        super().__init__()
        # Outside nn.Module's registries: nothing of the trainer enters the state dict.
        object.__setattr__(self, "state", TrainerState())
        if module is not None:
            self.module = module
            self.state.wraps = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped module's forward; subclasses define their own."""
        if self.state.wraps:
            return self.module(*args, **kwargs)
        raise NotImplementedError("subclass BaseModel and define forward(), or wrap a module: BaseModel(net)")

    def unwrap(self) -> nn.Module:
        """The module whose state dict is saved: the wrapped one for ``BaseModel(net)``, DP and DDP; else self.

        Checkpoints therefore use the same keys whether written by a single process or by DDP.
        """
        return self.module if self.state.wraps else self

    def is_master(self) -> bool:
        """Whether this process prints and writes files (always, outside DDP)."""
        return True

    # ------------------------------------------------------------------ compile

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
                that was taken. An EMA from ``bert4torch.optimizers`` fits here.
            clip_grad_norm: max global gradient norm (None: no clipping).
            use_amp: the original's switch, same as ``mixed_precision='fp16'``.
            metrics: ``'accuracy'``, ``'mae'``, ``'mse'``, ``'mape'``, ``'msle'`` (and the original's aliases), a
                key of the dict the loss returns, a function returning a dict, ``{'name': fn}``, or a list of
                those; functions get ``(output, y)``. Other names are skipped with a :class:`MetricNotFoundWarning`.
            stateful_metrics: accepted and ignored (warns): every metric is averaged over the epoch.
            grad_accumulation_steps: batches per optimizer step; each batch's loss is divided by it.
            mixed_precision: None, ``'fp16'`` (autocast + GradScaler) or ``'bf16'`` (autocast).
            clip_gram_norm: the spelling of the original's tutorial, same as ``clip_grad_norm``.
            nan_policy: what a non-finite loss or gradient does. ``'skip'`` (default): a batch with a non-finite
                loss is not back-propagated (counted in ``nan_steps``); an optimizer step whose gradients are not
                all finite is skipped, weights unchanged (a :class:`NonFiniteGradientWarning` once per fit).
                ``'raise'``: FloatingPointError naming the loss or the parameter, before any weight changes.
        """
        mixed_precision, clip_grad_norm = _precision_and_clip(use_amp, mixed_precision, clip_grad_norm, clip_gram_norm)
        check_choice("nan_policy", nan_policy, NAN_POLICIES)
        if stateful_metrics is not None:
            warn_ignored("BaseModel.compile", "stateful_metrics", "every metric is averaged over the epoch")
        if grad_accumulation_steps < 1:
            raise ValueError(f"grad_accumulation_steps must be >= 1, got {grad_accumulation_steps}")
        if not callable(loss):
            raise TypeError(f"loss must be callable, got {type(loss).__name__}")
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        st = self.state
        st.criterion, st.optimizer, st.scheduler = loss, optimizer, scheduler
        st.schedulers = _scheduler_list(scheduler)
        st.metrics, st.loss_key_metrics = resolve_metrics(metrics)
        st.clip_grad_norm = clip_grad_norm
        st.grad_accumulation_steps = grad_accumulation_steps
        st.nan_policy = nan_policy
        self._setup_precision(mixed_precision)
        names = {id(p): n for n, p in self.unwrap().named_parameters()}  # the names a user knows (no "module.")
        st.trainable = [p for p in self.parameters() if p.requires_grad]
        st.trainable_names = [names.get(id(p), "?") for p in st.trainable]
        st.finite_check = FiniteCheck(st.trainable)
        st.run_id = uuid.uuid4().hex  # a new optimizer starts a new run (a resume adopts the checkpoint's)

    def _setup_precision(self, mixed_precision: str | None) -> None:
        st = self.state
        st.mixed_precision = mixed_precision
        device_type = next((p.device.type for p in self.parameters()), "cpu")
        dtype = {None: None, "fp16": torch.float16, "bf16": torch.bfloat16}[mixed_precision]
        st.autocast = None if dtype is None else (device_type, dtype)
        st.scaler = torch.amp.GradScaler(device_type) if mixed_precision == "fp16" else None

    # ------------------------------------------------------------------ one step

    def _call_target(self) -> nn.Module:
        # A plain BaseModel(net) without hooks of its own only forwards to net: call net directly and save a
        # Module.__call__ per step. Subclasses, DP/DDP and hooked wrappers go through self as usual.
        if (
            type(self) is BaseModel
            and self.state.wraps
            and not (self._forward_hooks or self._forward_pre_hooks or self._backward_hooks)
        ):
            return self.module
        return self

    def _forward(self, train_X: Any) -> Any:
        # A list/tuple of inputs is unpacked into forward when it takes two or more positional arguments.
        st = self.state
        target = st.fit_target
        if target is None:
            target = self._call_target()
            unpack = forward_unpacks(self.unwrap())
        else:
            unpack = st.unpack
        if isinstance(train_X, (list, tuple)) and unpack:
            return target(*train_X)
        if isinstance(train_X, Mapping):
            return target(**train_X)
        return target(train_X)

    def compute_loss(self, output: Any, train_y: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        """Call the criterion and split its result into the loss tensor and the extra terms to log."""
        result = self.state.criterion(output, train_y)
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
        st = self.state
        if st.grad_accumulation_steps > 1:
            loss = loss / st.grad_accumulation_steps
        if st.scaler is not None:
            loss = st.scaler.scale(loss)
        loss.backward(retain_graph=st.retain_graph)

    def train_step(self, train_X: Any, train_y: Any) -> tuple[Any, torch.Tensor, dict[str, Any]]:
        """Forward, loss and backward for one batch; returns ``(output, loss, loss_detail)``.

        Override to change the step and keep the loop. Adversarial callbacks call it again for their extra pass.
        """
        st = self.state
        if st.autocast is not None:
            with torch.autocast(st.autocast[0], dtype=st.autocast[1]):
                output = self._forward(train_X)
                loss, detail = self.compute_loss(output, train_y)
        else:
            output = self._forward(train_X)
            loss, detail = self.compute_loss(output, train_y)
        value = loss.item()  # one host sync per step, reused for the logs
        finite = math.isfinite(value)
        st.last_loss_value = value
        st.last_loss_finite = finite
        if finite:
            self.backward(loss)
            st.window_backwards += 1
        elif st.nan_policy == "raise":
            raise FloatingPointError(f"loss is {value} at step {st.global_step}")
        return output, loss, detail

    def _optimizer_step(self) -> None:
        st = self.state
        optimizer = st.optimizer
        if st.window_backwards == 0:  # every batch of the window had a non-finite loss: no update at all
            optimizer.zero_grad()
            return
        st.window_backwards = 0
        scaler = st.scaler
        if scaler is not None:  # the scaler finds non-finite gradients itself and skips the step
            if st.clip_grad_norm is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(st.trainable, st.clip_grad_norm)
            scale = scaler.get_scale()
            scaler.step(optimizer)
            scaler.update()
            stepped = scaler.get_scale() >= scale  # a lowered scale means inf/nan grads and a skipped step
        else:
            stepped = self._gradients_finite()
            if stepped:
                optimizer.step()
        optimizer.zero_grad()
        if stepped:
            for s in st.schedulers:
                s.step()

    def _gradients_finite(self) -> bool:
        # Clipping computes the global norm anyway; without it the max-norm cannot overflow to inf.
        st = self.state
        if st.clip_grad_norm is not None:
            finite = math.isfinite(torch.nn.utils.clip_grad_norm_(st.trainable, st.clip_grad_norm).item())
        else:
            finite = st.finite_check()
        if finite:
            return True
        name = next(
            (n for n, p in zip(st.trainable_names, st.trainable) if p.grad is not None and not p.grad.isfinite().all()),
            "a parameter",
        )
        st.skipped_updates += 1
        message = f"the gradient of {name} is not finite at step {st.global_step} (the loss was finite)"
        if st.nan_policy == "raise":
            raise FloatingPointError(message + "; no weight was changed")
        if st.skipped_updates == 1:
            warnings.warn(message + ": optimizer step skipped (nan_policy='skip')", NonFiniteGradientWarning, 2)
        return False

    # ------------------------------------------------------------------ data

    def _start_data_pass(self) -> None:
        st = self.state
        sampler = getattr(st.train_dataloader, "sampler", None)
        if callable(getattr(sampler, "set_epoch", None)):  # DistributedSampler: a new shuffle per pass
            sampler.set_epoch(st.data_pass)
        st.data_pass_rng = get_rng_state()
        st.data_iter = iter(st.train_dataloader)
        st.data_consumed = 0

    def _next_batch(self, callbacks: CallbackList) -> tuple[Any, Any]:
        st = self.state
        if st.data_iter is None:
            self._start_data_pass()
        try:
            batch = next(st.data_iter)
        except StopIteration:
            callbacks.on_dataloader_end()
            st.data_pass += 1
            self._start_data_pass()
            try:
                batch = next(st.data_iter)
            except StopIteration:
                raise RuntimeError("the train dataloader yielded no batch") from None
        st.data_consumed += 1
        if not (isinstance(batch, (list, tuple)) and len(batch) == 2):
            _bad_batch(batch)
        return batch

    def running_logs(self) -> dict[str, float]:
        """The averages of this epoch's logs so far (what the progress bar shows)."""
        n = max(1, self.state.epoch_count)
        return {k: v / n for k, v in self.state.epoch_sums.items()}

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

        Each batch is ``(X, y)``; a list/tuple ``X`` is unpacked into a ``forward`` taking two or more positional
        arguments. The dataloader is iterated continuously across epochs (``steps_per_epoch`` only sets the epoch
        length) and restarted when it runs out, after ``on_dataloader_end``. After :meth:`resume_from_checkpoint`,
        training continues from the saved point. With a ``Checkpoint(save_dir=...)`` callback, SIGINT (Ctrl-C) or
        SIGTERM stops at the next step boundary, writes a checkpoint there and raises :class:`TrainingInterrupted`.

        Args:
            train_dataloader: an iterable of batches, usually a DataLoader.
            steps_per_epoch: batches per epoch (None: ``len(train_dataloader)``).
            epochs: epochs to train, counting those already done before a resume.
            callbacks: callbacks; the progress bar (``verbose``) and History are added automatically.
            verbose: 0 silent, 1 a progress bar, 2 one line per epoch (only the master process prints).
        """
        st = self.state
        if st.optimizer is None:
            raise RuntimeError("call compile(loss, optimizer, ...) before fit()")
        clist = self._prepare_fit(train_dataloader, steps_per_epoch, epochs, callbacks, verbose)
        try:
            with stop_on_signals(self, clist):
                start_epoch, start_local = self._begin_fit(st.history)
                clist.on_train_begin({})
                st.fit_target = self._call_target()  # after on_train_begin, which may add hooks
                st.unpack = forward_unpacks(self.unwrap())
                for epoch in range(start_epoch, st.epochs):
                    fresh = epoch != start_epoch or start_local == 0
                    if self._run_epoch(epoch, fresh, clist):
                        break
                if st.stop_signal is None:  # else stop_on_signals writes the checkpoints first
                    clist.on_train_end({})
            return st.history
        finally:
            # Also after a crash inside fit: the next fit starts fresh unless resumed again.
            st.fit_target = None
            st.resume = None
            st.pending_epoch = None
            st.data_iter = None  # shuts DataLoader workers down now rather than whenever the model is freed
            # the last batch's graph would keep memory and make the model impossible to deep-copy
            st.train_X = st.train_y = st.output = st.loss = st.loss_detail = None

    def _prepare_fit(
        self,
        train_dataloader: Iterable[Any],
        steps_per_epoch: int | None,
        epochs: int,
        callbacks: list[Callback] | None,
        verbose: int,
    ) -> CallbackList:
        check_choice("verbose", verbose, (0, 1, 2))
        if steps_per_epoch is None:
            try:
                steps_per_epoch = len(train_dataloader)  # type: ignore[arg-type]
            except TypeError:
                raise TypeError("the dataloader has no len(); pass steps_per_epoch") from None
        if steps_per_epoch < 1:
            raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
        st = self.state
        st.train_dataloader = train_dataloader
        st.steps_per_epoch = steps_per_epoch
        st.epochs = epochs
        st.total_steps = steps_per_epoch * epochs
        st.stop_training = False
        st.stop_signal = None
        st.history = History()
        cbs: list[Callback] = []
        if verbose and self.is_master():
            cbs.append(ProgbarLogger(verbose=verbose))
        cbs.extend(callbacks or [])
        cbs.append(st.history)
        params = {"epochs": epochs, "steps": steps_per_epoch, "verbose": verbose}
        for cb in cbs:
            cb.set_trainer(self)
            cb.set_params(params)
        return CallbackList(cbs)

    def _run_epoch(self, epoch: int, fresh: bool, clist: CallbackList) -> bool:
        """One epoch (or the rest of one, after a resume); returns whether training stops."""
        st = self.state
        st.epoch = epoch
        if fresh:
            st.epoch_sums = {}
            st.epoch_count = 0
            st.local_step = 0
        self.train()
        clist.on_epoch_begin(st.global_step, epoch, {})
        self._train_batches(clist)
        if st.stop_signal is not None:  # interrupted: the epoch is not over, its end hooks do not run
            return True
        epoch_logs = self.running_logs()
        if st.local_step >= st.steps_per_epoch:
            st.epoch = epoch + 1  # what a checkpoint taken in on_epoch_end must record
            st.local_step = 0
        st.pending_epoch = (epoch, epoch_logs)
        clist.on_epoch_end(st.global_step, epoch, epoch_logs)
        st.pending_epoch = None
        return st.stop_training

    def _train_batches(self, clist: CallbackList) -> None:
        # The hot loop: locals for everything read per step (its overhead is benchmarked).
        st = self.state
        batch_begin = clist.hooks["on_batch_begin"]
        batch_end = clist.hooks["on_batch_end"]
        step_end = clist.hooks["on_train_step_end"]
        metrics = st.metrics
        accum = st.grad_accumulation_steps
        sums = st.epoch_sums
        for local in range(st.local_step, st.steps_per_epoch):
            global_step = st.global_step
            st.bti = st.data_consumed  # the batch's index in the dataloader (final once fetched: it may restart)
            logs: dict[str, Any] = {}
            for f in batch_begin:
                f(global_step, local, logs)
            train_X, train_y = self._next_batch(clist)
            st.bti = st.data_consumed - 1
            st.train_X, st.train_y = train_X, train_y
            output, loss, detail = self.train_step(train_X, train_y)
            st.output, st.loss, st.loss_detail = output, loss, detail
            # Read before on_train_step_end: an adversarial pass calls train_step again.
            loss_value, finite = st.last_loss_value, st.last_loss_finite
            for f in step_end:
                f(logs)
            if (global_step + 1) % accum == 0:
                self._optimizer_step()
            logs["loss"] = loss_value
            if not finite:
                st.nan_steps += 1
            for k, v in detail.items():
                logs[k] = to_float(v)
            if st.loss_key_metrics:
                _check_loss_key_metrics(st, detail)
            if metrics:
                compute_metrics(metrics, output, train_y, logs)
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            st.epoch_count += 1
            st.global_step = global_step + 1
            st.local_step = local + 1
            for f in batch_end:
                f(global_step, local, logs)
            if st.stop_training:
                break

    # ------------------------------------------------------------------ inference

    def predict(self, train_X: Any, return_all: int | None = None) -> Any:
        """Forward without gradients in eval mode (the previous mode is restored).

        Args:
            train_X: the inputs (a list/tuple is unpacked into a ``forward`` of two or more positional arguments).
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
                    if self.state.criterion is not None:
                        loss, detail = self.compute_loss(output, y)
                        logs["loss"] = loss.item()
                        logs.update({k: to_float(v) for k, v in detail.items()})
                    compute_metrics(self.state.metrics, output, y, logs)
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + v
                    n += 1
        finally:
            self.train(was_training)
        return {k: v / max(1, n) for k, v in sums.items()}


    def summary(self, print_fn: Callable[[str], None] | None = print) -> str:
        """A table of the top-level submodules with their parameter counts; printed, and returned."""
        text = summary_table(self.unwrap())
        if print_fn is not None:
            print_fn(text)
        return text


for _name in PUBLIC_FIELDS:
    setattr(BaseModel, _name, state_property(_name))
del _name


def _precision_and_clip(
    use_amp: bool, mixed_precision: str | None, clip_grad_norm: float | None, clip_gram_norm: float | None
) -> tuple[str | None, float | None]:
    """Fold the original's spellings (``use_amp``, ``clip_gram_norm``) into ``mixed_precision``/``clip_grad_norm``."""
    if clip_gram_norm is not None:
        if clip_grad_norm is not None and clip_grad_norm != clip_gram_norm:
            raise ValueError("give clip_grad_norm or its alias clip_gram_norm, not both")
        clip_grad_norm = clip_gram_norm
    if use_amp:
        if mixed_precision not in (None, "fp16"):
            raise ValueError(f"use_amp=True means fp16 and conflicts with mixed_precision={mixed_precision!r}")
        mixed_precision = "fp16"
    check_choice("mixed_precision", mixed_precision, (None, "fp16", "bf16"))
    return mixed_precision, clip_grad_norm


def _scheduler_list(scheduler: Any) -> list[Any]:
    if scheduler is None:
        found = []
    elif isinstance(scheduler, (list, tuple)):
        found = [s for s in scheduler if s is not None]
    else:
        found = [scheduler]
    for s in found:
        if not callable(getattr(s, "step", None)):
            raise TypeError(f"scheduler {s!r} has no step() method")
    return found


class FiniteCheck:
    """Whether every gradient is finite: the fused check GradScaler runs, one kernel per device and dtype.

    The parameters are grouped once (at compile) and the flag tensors kept, so a step costs one kernel and one
    host sync per group.
    """

    def __init__(self, params: list[torch.Tensor]) -> None:
        groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = {}
        for p in params:
            groups.setdefault((p.device, p.dtype), []).append(p)
        self.groups = [(ps, torch.zeros(1, device=d), torch.ones(1, device=d)) for (d, _), ps in groups.items()]

    def __call__(self) -> bool:
        for params, found, one in self.groups:
            grads = [p.grad for p in params if p.grad is not None]
            if not grads:
                continue
            found.zero_()
            try:
                torch._amp_foreach_non_finite_check_and_unscale_(grads, found, one)
                bad = found.item()
            except (RuntimeError, NotImplementedError):  # sparse gradients, or dtypes the fused kernel lacks
                norms = [torch.linalg.vector_norm(g.coalesce().values() if g.is_sparse else g, math.inf) for g in grads]
                bad = not torch.stack(norms).isfinite().all().item()
            if bad:
                return False
        return True


def _bad_batch(batch: Any) -> None:
    what = f"a bare tensor of shape {tuple(batch.shape)}" if isinstance(batch, torch.Tensor) else type(batch).__name__
    if isinstance(batch, (list, tuple)):
        what = f"a {type(batch).__name__} of {len(batch)} items"
    raise TypeError(
        f"the train dataloader yielded {what}; each batch must be a pair (X, y): return (inputs, labels) from the "
        "dataset or collate_fn (X may be a tensor, a list of tensors or a dict; y what the loss takes, or None)"
    )


def _check_loss_key_metrics(st: TrainerState, detail: Mapping[str, Any]) -> None:
    """Metric names that are no built-in should be keys of the dict the loss returns (checked at the first step).

    One that is not is not logged, with a :class:`MetricNotFoundWarning` (the original skipped it silently, and
    its examples name metrics that their loss does not return).
    """
    missing = [m for m in st.loss_key_metrics if m not in detail]
    if missing:
        from ._metrics import BUILTIN_METRICS

        known = [*BUILTIN_METRICS, *detail]
        hints = "".join(closest_hint(m, known) for m in missing)
        warnings.warn(
            f"metric(s) {missing} are neither built in nor keys of the dict the loss returned ({sorted(detail)}), "
            f"so they are not logged.{hints}",
            MetricNotFoundWarning,
            stacklevel=2,
        )
    st.loss_key_metrics = ()
