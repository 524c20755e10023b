"""bert4torch.snippets: the original grab-bag of names, re-exported lazily from where they live now.

Importing this module loads nothing else; a name is imported from its distribution on first use, and a
name whose distribution is not installed raises an ImportError that gives the pip command that fixes it.
"""

from __future__ import annotations

__version__ = "0.1.0"

import importlib
from typing import Any

from ._exports import EXPORTS
from ._helpers import DottableDict, cal_ts_num, delete_arguments, get_kw, insert_arguments, is_string, softmax

_LOCAL = ["DottableDict", "cal_ts_num", "delete_arguments", "get_kw", "insert_arguments", "is_string", "softmax"]
__all__ = sorted([*_LOCAL, *EXPORTS])


def __getattr__(name: str) -> Any:
    try:
        module_name, dist, extra = EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'bert4torch.snippets' has no attribute {name!r}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ImportError(
            f"bert4torch.snippets.{name} lives in {module_name}, from the {dist} distribution, which is not "
            f"installed: pip install {dist}  (or pip install 'b4t[{extra}]')"
        ) from e
    value = getattr(module, name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return __all__
