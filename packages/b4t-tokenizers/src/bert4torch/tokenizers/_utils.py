"""Small shared helpers: strict keyword checking with a did-you-mean hint."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def closest_name(name: str, candidates: list[str]) -> str | None:
    """The candidate closest to ``name`` (difflib ratio >= 0.6), or None."""
    import difflib  # only on the error path

    match = difflib.get_close_matches(name, candidates, n=1)
    return match[0] if match else None


def strict_kwargs(func: F) -> F:
    """Make an unknown keyword argument a TypeError that names the closest valid one.

    Python already rejects unknown keywords, but without a hint; the original bert4torch swallowed them in
    ``**kwargs``, so a typo such as ``do_lowercase=False`` silently did nothing. Only used on constructors, so the
    extra check never runs in a hot loop.
    """
    code = func.__code__
    valid = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    valid_set = frozenset(valid)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        for key in kwargs:
            if key not in valid_set:
                hint = closest_name(key, [v for v in valid if v != "self"])
                msg = f"{func.__qualname__}() got an unexpected keyword argument {key!r}"
                raise TypeError(msg + (f"; did you mean {hint!r}?" if hint else ""))
        return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
