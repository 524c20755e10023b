"""The adversarial probe every package's bad-input tests share: run a call and classify its outcome.

Only two outcomes pass: ``ok`` (a result that passes the caller's check) and ``clear error`` (a ``TypeError`` or
``ValueError`` whose message names one of the call's arguments). Anything else is a defect: an ``obscure crash``
(another exception, or one that names nothing the user passed), a ``silent wrong`` result, or a ``hang``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any

OK, CLEAR, OBSCURE, WRONG, HANG = "ok", "clear error", "obscure crash", "silent wrong", "hang"
PASSING = (OK, CLEAR)


def classify(call: Callable[[], Any], check: Callable[[Any], bool], names: Iterable[str], timeout: float = 60.0
             ) -> tuple[str, str]:
    """``(outcome, detail)`` of ``call()``; ``names`` are the arguments a clear error may name."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except Exception as e:  # noqa: BLE001 - the probe classifies every exception
            box["error"] = e

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return HANG, ""
    if "error" in box:
        e = box["error"]
        named = isinstance(e, (TypeError, ValueError)) and any(name in str(e) for name in names)
        return (CLEAR if named else OBSCURE), f"{type(e).__name__}: {e}"
    return (OK, "") if check(box["result"]) else (WRONG, repr(box["result"])[:300])
