"""Type and range checks of config values, from the config dataclass's own annotations.

A value of the wrong type (``hidden_size: "384"``), a count below its minimum (``num_attention_heads: 0``,
``vocab_size: -5``), a probability outside [0, 1] or a null where a number is required is refused before the model
is built, with a ``ConfigError`` naming the key. A null given for an option that has a default means the default
(the original read ``dropout_rate=None`` as 0).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any

__all__ = ["check_values"]

# minimum of every count or width, by field name (any family); probabilities are in [0, 1]
MINIMUM: dict[str, int] = {
    **dict.fromkeys(("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size", "max_position",
                     "embedding_size", "attention_head_size", "attention_key_size", "d_model", "d_kv", "d_ff",
                     "num_heads", "n_head", "d_inner", "d_head", "head_dim", "num_key_value_heads",
                     "max_position_embeddings", "src_vocab_size", "tgt_vocab_size", "relative_attention_num_buckets"), 1),
    **dict.fromkeys(("num_hidden_layers", "num_layers", "num_decoder_layers", "n_layer", "segment_vocab_size",
                     "position_offset", "num_hidden_groups", "task_type_vocab_size"), 0),
}
PROBABILITY = frozenset({"dropout_rate", "attention_probs_dropout_prob", "dropout"})


@functools.lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _members(hint: Any) -> tuple[Any, ...]:
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return typing.get_args(hint)
    return (hint,)


_CHECKS: dict[Any, Callable[[Any], bool]] = {
    bool: lambda v: isinstance(v, bool),
    int: lambda v: isinstance(v, int) and not isinstance(v, bool),
    float: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    str: lambda v: isinstance(v, str),
    type(None): lambda v: v is None,
    list: lambda v: isinstance(v, (list, tuple, range)) or hasattr(v, "__array__"),
    tuple: lambda v: isinstance(v, (list, tuple)),
    dict: lambda v: isinstance(v, dict),
}


def _conforms(value: Any, hint: Any) -> bool:
    for member in _members(hint):
        if member is Any:
            return True
        check = _CHECKS.get(typing.get_origin(member) or member)
        if check is None or check(value):
            return True
    return False


def _spelled(hint: Any) -> str:
    return " or ".join("None" if m is type(None) else getattr(m, "__name__", str(m)) for m in _members(hint))


def check_values(cls: type, values: dict[str, Any], spelled: dict[str, str] | None = None) -> dict[str, Any]:
    """``values`` (field name -> value) checked against ``cls``'s annotations and the ranges above; ``spelled`` maps a
    field to the alias the user wrote (``hidden_dropout_prob`` for ``dropout_rate``), which an error names first.

    Returns:
        The values, without the nulls given for options that have a default (so the default applies).

    Raises:
        ConfigError: a value of the wrong type or out of range, naming the key.
    """
    from ._config import ConfigError

    hints = _hints(cls)
    defaults = {f.name for f in dataclasses.fields(cls)
                if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}
    out = {}
    for name, value in values.items():
        hint = hints[name]
        key = f"{spelled[name]} ({name})" if spelled and name in spelled else name
        if value is None and not _conforms(None, hint) and name in defaults:
            continue
        if not _conforms(value, hint):
            raise ConfigError(f"{cls.__name__}: {key}={value!r} must be {_spelled(hint)} "
                              f"(got {type(value).__name__})")
        low = MINIMUM.get(name)
        if low is not None and isinstance(value, int) and value < low:
            raise ConfigError(f"{cls.__name__}: {key}={value!r} must be at least {low}")
        if name in PROBABILITY and isinstance(value, (int, float)) and not 0 <= value <= 1:
            raise ConfigError(f"{cls.__name__}: {key}={value!r} is a probability, between 0 and 1")
        out[name] = value
    return out
