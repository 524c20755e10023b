"""Small validation helpers shared by the losses."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise ValueError naming the closest valid choice when ``value`` is not one of ``choices``."""
    choices = tuple(choices)
    if value in choices:
        return
    close = difflib.get_close_matches(str(value), [str(c) for c in choices], n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"{name}={value!r} is not one of {list(choices)}.{hint}")
