"""``trainable(model_class)``: a picklable subclass of a model class with the trainer mixed in.

The classes are made once per model class and named ``<Class>Trainable`` in this module; pickle finds them through
this module's ``__getattr__``, which rebuilds the class from ``bert4torch.models`` (or from the classes made in
this process, for a user's own model class), so a pickled or ``torch.save``-d model loads in a fresh process.
"""

from __future__ import annotations

import threading
from typing import Any

from ._base import BaseModel

SUFFIX = "Trainable"
_made: dict[str, type] = {}
_lock = threading.Lock()


def trainable(model_class: type) -> type:
    """The subclass ``(model_class, BaseModel)`` named ``<model_class.__name__>Trainable`` (cached).

    ``model_class.__init__`` must call ``super().__init__()``, which reaches ``BaseModel.__init__`` through the MRO.
    A class that already subclasses BaseModel is returned as it is.

    Args:
        model_class: an ``nn.Module`` subclass.

    Returns:
        The trainable class: ``compile``/``fit`` on top of the model's own methods.
    """
    if issubclass(model_class, BaseModel):
        return model_class
    name = model_class.__name__ + SUFFIX
    with _lock:
        made = _made.get(name)
        if made is not None and made.__mro__[1] is model_class:
            return made
        if made is not None:  # two user classes of the same name: the later one is reachable in-process only
            name = f"{name}_{id(model_class):x}"
            if name in _made:
                return _made[name]
        made = type(name, (model_class, BaseModel), {"__module__": __name__, "__qualname__": name})
        made.__doc__ = model_class.__doc__
        _made[name] = made
        return made


def __getattr__(name: str) -> Any:
    """Rebuild ``<Class>Trainable`` for pickle: ``Class`` from ``bert4torch.models``, or one made in this process."""
    if name.startswith("__") or not name.endswith(SUFFIX):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    base_name = name[: -len(SUFFIX)]
    try:
        import bert4torch.models as models

        base = getattr(models, base_name, None)
    except ImportError:
        base = None
    if isinstance(base, type):
        return trainable(base)
    if name in _made:
        return _made[name]
    raise AttributeError(
        f"{__name__}.{name}: no class {base_name!r} in bert4torch.models, and none made in this process; call "
        f"bert4torch.trainer.trainable({base_name}) before unpickling"
    )
