"""Small helpers the original kept in ``snippets`` that belong to no other distribution."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def is_string(s: object) -> bool:
    """Whether ``s`` is a ``str``."""
    return isinstance(s, str)


class DottableDict(dict):  # type: ignore[type-arg]
    """A dict whose keys can also be read and written as attributes (``d.lr`` is ``d['lr']``)."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None


def insert_arguments(**arguments: Any) -> Callable[[F], F]:
    """Decorate a method so that ``arguments`` (with their defaults) are taken from its kwargs and set on ``self``."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def new_func(self: Any, *args: Any, **kwargs: Any) -> Any:
            for k, v in arguments.items():
                setattr(self, k, kwargs.pop(k, v))
            return func(self, *args, **kwargs)

        return new_func  # type: ignore[return-value]

    return decorator


def delete_arguments(*arguments: str) -> Callable[[F], F]:
    """Decorate a method so that passing any of ``arguments`` raises a TypeError naming it."""

    def decorator(func: F) -> F:
        @functools.wraps(func)
        def new_func(self: Any, *args: Any, **kwargs: Any) -> Any:
            for k in arguments:
                if k in kwargs:
                    raise TypeError(f"{type(self).__name__} got an unexpected keyword argument {k!r}")
            return func(self, *args, **kwargs)

        return new_func  # type: ignore[return-value]

    return decorator


def softmax(x: Any, axis: int = -1) -> Any:
    """Numerically stable softmax of a numpy array along ``axis``."""
    import numpy as np

    x = np.asarray(x)
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)
