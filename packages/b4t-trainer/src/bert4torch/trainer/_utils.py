"""Helpers: typo-checked keyword arguments and choices, RNG state capture, seeding."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import random
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])


def closest_hint(name: str, valid: Iterable[str]) -> str:
    """`` Did you mean 'x'?`` for the closest valid name, or an empty string."""
    close = difflib.get_close_matches(name, list(valid), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ValueError naming the closest valid choice when ``value`` is not one of ``choices``."""
    choices = tuple(choices)
    if value in choices:
        return
    raise ValueError(f"{name}={value!r} is not one of {list(choices)}.{closest_hint(str(value), map(str, choices))}")


def check_kwargs(fn: F) -> F:
    """Make an unknown keyword argument a TypeError that names the closest valid one.

    Python's own message has no suggestion; this runs once per ``compile``/``fit`` call, never per step.
    """
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        raise TypeError(f"check_kwargs is for functions without **kwargs, not {fn.__qualname__}")
    names = frozenset(n for n in params if n != "self")

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for key in kwargs:
            if key not in names:
                raise TypeError(
                    f"{fn.__qualname__}() got an unexpected keyword argument {key!r}.{closest_hint(key, names)}"
                )
        return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_WARNED: set[str] = set()


def warn_ignored(where: str, option: str, why: str) -> None:
    """Warn, once per process, that ``option`` of ``where`` was given a value it does not act on."""
    key = f"{where}:{option}"
    if key in _WARNED:
        return
    _WARNED.add(key)
    warnings.warn(f"{where}: {option} is accepted and ignored ({why})", UserWarning, stacklevel=3)


@functools.lru_cache(maxsize=512)
def _forward_unpacks(forward: Callable[..., Any], bound: bool) -> bool:
    try:
        params = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):  # a builtin without a signature: keep the list convention
        return True
    if not bound:
        params = params[1:]  # self
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in positional for p in params) >= 2


def forward_unpacks(module: Any) -> bool:
    """Whether a list/tuple of inputs is unpacked into ``module.forward``: when it takes two or more positional
    arguments (or ``*args``); a ``forward(self, inputs)`` gets the list whole."""
    own = getattr(module, "__dict__", {}).get("forward")
    if own is not None:  # a forward set on the instance
        return _forward_unpacks(own, True)
    return _forward_unpacks(type(module).forward, False)


def get_rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from, in a form ``torch.load(weights_only=True)`` reads back."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    np = sys.modules.get("numpy")  # only if the user's code imported it; numpy is no dependency of ours
    if np is not None:
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype("int64")),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        }
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` captured."""
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        s = state["numpy"]
        np.random.set_state((s["kind"], s["keys"].numpy().astype("uint32"), s["pos"], s["has_gauss"], s["cached"]))


def seed_everything(seed: int | None = None) -> int:
    """Seed Python's ``random``, numpy (when installed), torch (CPU and CUDA) and ``PYTHONHASHSEED``.

    Args:
        seed: the seed; None draws one at random.

    Returns:
        The seed used.
    """
    if seed is None:
        seed = random.randint(0, 2**32 - 1)
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    try:
        import numpy as np
    except ImportError:
        pass
    else:
        np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed
