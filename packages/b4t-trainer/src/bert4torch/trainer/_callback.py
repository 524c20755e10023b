"""The callback base class, its override detection, the list that dispatches hooks, and LambdaCallback."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._base import BaseModel

HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_batch_begin",
    "on_batch_end",
    "on_dataloader_end",
    "on_train_step_end",
)


def default(method: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a hook as the no-op default, so the trainer can skip callbacks that do not override it."""
    method._b4t_default = True  # type: ignore[attr-defined]
    return method


def is_default(method: Any) -> bool:
    """True when ``method`` is a hook nobody overrode."""
    return getattr(method, "_b4t_default", False)


class Callback:
    """Base class of the callbacks; override any hook, with the original's signatures.

    Hooks nobody overrides cost nothing: the trainer dispatches only to overridden ones. ``self.trainer`` (also
    ``self.model``) is the model being fitted, and ``self.params`` holds ``epochs``, ``steps`` and ``verbose``.
    A subclass need not call ``super().__init__()`` (the original's examples do not).
    """

    # Class attributes, so subclasses that skip super().__init__() still have them.
    trainer: BaseModel | None = None
    model: BaseModel | None = None
    params: dict[str, Any] = {}

    def set_trainer(self, trainer: BaseModel) -> None:
        """Called by ``fit`` before training."""
        self.trainer = trainer
        self.model = trainer

    def set_params(self, params: dict[str, Any]) -> None:
        """Called by ``fit`` with ``epochs``, ``steps`` and ``verbose``."""
        self.params = params

    @default
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        """Once, before the first epoch."""

    @default
    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        """Once, after the last epoch (or an early stop)."""

    @default
    def on_epoch_begin(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """Before each epoch; ``epoch`` counts from 0."""

    @default
    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """After each epoch; ``logs`` holds the epoch averages, and values added here reach History."""

    @default
    def on_batch_begin(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        """Before each batch; ``global_step`` and ``local_step`` index the batch (from 0)."""

    @default
    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        """After each batch (and its optimizer step); ``logs`` holds this batch's loss and metrics."""

    @default
    def on_dataloader_end(self, logs: dict[str, Any] | None = None) -> None:
        """When the dataloader runs out inside an epoch (``steps_per_epoch`` longer than it); it restarts next."""

    @default
    def on_train_step_end(self, logs: dict[str, Any] | None = None) -> None:
        """After the backward pass and before the optimizer step (adversarial training works here)."""


class CallbackList:
    """Dispatches each hook to the callbacks that override it, in order.

    Args:
        callbacks: the callbacks.
    """

    def __init__(self, callbacks: Iterable[Callback] | None = None) -> None:
        self.callbacks = list(callbacks or [])
        # Bound methods, per hook, of the callbacks that override it: the per-step cost of an unused hook is an
        # iteration over an empty list.
        self.hooks: dict[str, list[Callable[..., Any]]] = {
            hook: [getattr(cb, hook) for cb in self.callbacks if not is_default(getattr(cb, hook))] for hook in HOOKS
        }


def _dispatcher(hook: str) -> Callable[..., None]:
    """``CallbackList.<hook>(*args)``: call ``hook`` on every callback that overrides it.

    Arguments left out are passed as None (``logs``, the last of every hook, defaults to None), so a callback
    whose hook takes ``logs`` without a default still gets it.
    """
    arity = len(inspect.signature(getattr(Callback, hook)).parameters) - 1  # without self

    def dispatch(self: CallbackList, *args: Any) -> None:
        args = args + (None,) * (arity - len(args))
        for f in self.hooks[hook]:
            f(*args)

    dispatch.__name__ = dispatch.__qualname__ = hook
    dispatch.__doc__ = f"Call ``{hook}`` on the callbacks that override it (arguments as :meth:`Callback.{hook}`)."
    return dispatch


# One dispatcher per hook, with the hook's name (the trainer's hot loop reads ``hooks`` directly instead).
for _hook in HOOKS:
    setattr(CallbackList, _hook, _dispatcher(_hook))
del _hook


class LambdaCallback(Callback):
    """A callback built from plain functions, one per hook, with the hooks' signatures.

    Unlike the original (which wired ``on_dataloader_end`` to ``on_train_end``), each function goes to its own hook.
    """

    def __init__(
        self,
        on_train_begin: Callable[..., Any] | None = None,
        on_train_end: Callable[..., Any] | None = None,
        on_epoch_begin: Callable[..., Any] | None = None,
        on_epoch_end: Callable[..., Any] | None = None,
        on_batch_begin: Callable[..., Any] | None = None,
        on_batch_end: Callable[..., Any] | None = None,
        on_dataloader_end: Callable[..., Any] | None = None,
        on_train_step_end: Callable[..., Any] | None = None,
    ) -> None:
        given = dict(locals())
        for hook in HOOKS:
            if given[hook] is not None:
                # An instance attribute shadows the class's default hook, so override detection sees it.
                setattr(self, hook, given[hook])
