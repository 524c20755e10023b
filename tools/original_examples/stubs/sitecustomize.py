"""Names that libraries removed after 2022 and that the examples' own code still uses, put back as they were.

numpy 1.24 removed ``np.int``, ``np.float``, ``np.bool`` and ``np.object`` (the builtins); pydantic 2 removed
``NoneStrBytes`` (one example imports it and never uses it). Nothing else is changed.
"""

import builtins
import importlib.abc
import sys

try:
    import numpy as _np
except ImportError:
    pass
else:
    for _name in ("int", "float", "bool", "object"):
        if _name not in _np.__dict__:
            setattr(_np, _name, getattr(builtins, _name))


class _PydanticV1Names(importlib.abc.MetaPathFinder):
    """After ``pydantic`` is imported, give it back ``NoneStrBytes`` (``Optional[str | bytes]`` in pydantic 1)."""

    def find_spec(self, name, path, target=None):
        if name != "pydantic":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None:
            return None
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            original(module)
            module.__dict__.setdefault("NoneStrBytes", None)

        loader.exec_module = exec_module
        return spec


import importlib.util  # noqa: E402

sys.meta_path.insert(0, _PydanticV1Names())
