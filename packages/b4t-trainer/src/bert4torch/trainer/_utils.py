"""Helpers: typo-checked keyword arguments and choices, RNG state capture, seeding."""

from __future__ import annotations

import difflib
import functools
import inspect
import os
import random
import sys
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
