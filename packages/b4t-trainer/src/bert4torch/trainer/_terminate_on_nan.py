"""TerminateOnNaN: stop after a batch whose loss is not finite."""

from __future__ import annotations

import math
from typing import Any

from ._callback import Callback


class TerminateOnNaN(Callback):
    """Stop training after a batch whose loss is NaN or infinite."""

    def on_batch_end(self, global_step: int, local_step: int, logs: dict[str, Any] | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"TerminateOnNaN: batch {global_step} has loss {loss}; stopping")
            self.trainer.stop_training = True
