"""History: the epoch logs of a fit, returned by ``fit``."""

from __future__ import annotations

from typing import Any

from ._callback import Callback


class History(Callback):
    """Records each epoch's logs (averages plus what other callbacks added); ``fit`` adds it last and returns it.

    Attributes:
        epoch: the 0-based epochs recorded.
        history: key -> list of values, one per recorded epoch.
    """

    def __init__(self) -> None:
        self.epoch: list[int] = []
        self.history: dict[str, list[float]] = {}

    def on_epoch_end(self, global_step: int, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps, so a resumed fit returns the whole run's history."""
        return {"epoch": list(self.epoch), "history": {k: list(v) for k, v in self.history.items()}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.epoch = list(state["epoch"])
        self.history = {k: list(v) for k, v in state["history"].items()}
