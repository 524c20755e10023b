"""Built-in metrics and the resolution of ``compile(metrics=...)``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch


def _accuracy(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    if y_pred.dim() == y_true.dim() + 1:  # logits or probabilities over classes
        y_pred = y_pred.argmax(dim=-1)
    return (y_pred == y_true).sum().item() / max(1, y_true.numel())


def _mae(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    return torch.mean(torch.abs(y_pred - y_true)).item()


def _mse(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    return torch.mean((y_pred - y_true) ** 2).item()


def _mape(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    diff = torch.abs((y_true - y_pred) / torch.clamp(torch.abs(y_true), min=1e-7))
    return (100.0 * torch.mean(diff)).item()


def _msle(y_pred: torch.Tensor, y_true: torch.Tensor) -> float:
    first = torch.log(torch.clamp(y_pred, min=1e-7) + 1.0)
    second = torch.log(torch.clamp(y_true, min=1e-7) + 1.0)
    return torch.mean((first - second) ** 2).item()


# name -> (log key, function); the aliases are the original's.
BUILTIN_METRICS: dict[str, tuple[str, Callable[[torch.Tensor, torch.Tensor], float]]] = {}
for _key, _fn, _aliases in [
    ("accuracy", _accuracy, ("accuracy", "acc")),
    ("mae", _mae, ("mae", "MAE", "mean_absolute_error")),
    ("mse", _mse, ("mse", "MSE", "mean_squared_error")),
    ("mape", _mape, ("mape", "MAPE", "mean_absolute_percentage_error")),
    ("msle", _msle, ("msle", "MSLE", "mean_squared_logarithmic_error")),
]:
    for _alias in _aliases:
        BUILTIN_METRICS[_alias] = (_key, _fn)

# (name or None, fn): a None name means the function returns a dict of named values.
ResolvedMetric = tuple[str | None, Callable[..., Any]]


def resolve_metrics(metrics: Any) -> tuple[list[ResolvedMetric], tuple[str, ...]]:
    """Turn ``compile(metrics=...)`` into ``(name, fn)`` pairs, and the names that must be keys of the loss's dict.

    A name that is no built-in metric is taken for a key of the dict the loss returns (those are logged anyway);
    the first training step checks that it is one, with a suggestion when it is not.
    """
    if metrics is None:
        return [], ()
    if isinstance(metrics, (str, Mapping)) or callable(metrics):
        metrics = [metrics]
    if not isinstance(metrics, Sequence):
        raise TypeError(f"metrics must be a name, a function, a dict or a list of those, got {type(metrics).__name__}")
    resolved: list[ResolvedMetric] = []
    loss_keys: list[str] = []
    for m in metrics:
        if isinstance(m, str):
            if m in BUILTIN_METRICS:
                resolved.append(BUILTIN_METRICS[m])
            else:
                loss_keys.append(m)
        elif isinstance(m, Mapping):
            for name, fn in m.items():
                if not callable(fn):
                    raise TypeError(f"metric {name!r} is not callable")
                resolved.append((str(name), fn))
        elif callable(m):
            resolved.append((None, m))
        else:
            raise TypeError(f"a metric must be a name, a function or a {{'name': function}} dict, got {m!r}")
    return resolved, tuple(loss_keys)


def compute_metrics(resolved: list[ResolvedMetric], y_pred: Any, y_true: Any, logs: dict[str, float]) -> None:
    """Evaluate every metric (without autograd) and write plain floats into ``logs``."""
    with torch.no_grad():
        for name, fn in resolved:
            value = fn(y_pred, y_true)
            if name is None:
                if not isinstance(value, Mapping):
                    raise TypeError(
                        f"metric function {fn!r} must return a dict of values (or be given as {{'name': fn}})"
                    )
                for k, v in value.items():
                    logs[k] = to_float(v)
            else:
                logs[name] = to_float(value)


def to_float(value: Any) -> float:
    """A tensor, number or numpy scalar as a Python float."""
    if isinstance(value, torch.Tensor):
        return value.item()
    return float(value)
