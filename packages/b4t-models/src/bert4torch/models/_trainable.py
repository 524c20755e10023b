"""Stand-in for ``bert4torch.trainer.trainable`` while an older b4t-trainer without it is installed.

Same contract: a cached subclass ``(model_class, BaseModel)`` named ``f"{model_class.__name__}Trainable"`` that pickle
finds again through this module's ``__getattr__`` (the family class is looked up in ``bert4torch.models``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["trainable"]

_CLASSES: dict[type, type] = {}
_SUFFIX = "Trainable"


def trainable(model_class: type) -> type:
    """The picklable subclass of ``model_class`` that also is a ``bert4torch.trainer.BaseModel``."""
    from bert4torch.trainer import BaseModel

    if issubclass(model_class, BaseModel):
        return model_class
    if model_class not in _CLASSES:
        _CLASSES[model_class] = type(f"{model_class.__name__}{_SUFFIX}", (model_class, BaseModel),
                                     {"__module__": __name__, "__doc__": model_class.__doc__})
    return _CLASSES[model_class]


def __getattr__(name: str) -> Any:
    if name.endswith(_SUFFIX) and len(name) > len(_SUFFIX):
        import bert4torch.models as models

        return trainable(getattr(models, name[: -len(_SUFFIX)]))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
