"""Small helpers the original kept in ``snippets`` that belong to no other distribution."""

from __future__ import annotations

import functools
import gc
import inspect
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


def get_kw(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``kwargs`` that ``cls.__init__`` does not name as a parameter.

    Args:
        cls: the class whose constructor parameters are removed.
        kwargs: all the keyword arguments.

    Returns:
        A new dict holding the remaining entries.
    """
    own = set(inspect.signature(cls.__init__).parameters)
    return {k: v for k, v in kwargs.items() if k not in own}


def cal_ts_num(tensor_shape: Any) -> int:
    """Count the torch tensors the garbage collector tracks whose shape is ``tensor_shape`` (memory-leak hunting).

    Args:
        tensor_shape: a ``torch.Size``, tuple or list of ints.

    Returns:
        How many live tensors have that shape; it is also printed, as a debugging aid.
    """
    import torch

    shape = tuple(tensor_shape)
    # type(), not isinstance(): isinstance reads __class__, which some tracked proxies override with a warning.
    num = sum(1 for obj in gc.get_objects() if issubclass(type(obj), torch.Tensor) and tuple(obj.shape) == shape)
    print(num)
    return num
