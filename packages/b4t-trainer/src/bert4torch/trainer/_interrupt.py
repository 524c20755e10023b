"""A clean stop on SIGINT (Ctrl-C) or SIGTERM (a cluster's preemption) while ``fit`` runs with checkpoints.

The first signal only sets a flag: the loop stops at the next step boundary, every ``Checkpoint`` with a
``save_dir`` writes a resumable checkpoint there, ``on_train_end`` runs, and :class:`TrainingInterrupted` (a
``SystemExit`` with the shell's code, 130 or 143) ends the program without a traceback. A second signal acts at
once, as it would without the trainer.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._callback import CallbackList

SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None)) if s is not None)


class TrainingInterrupted(SystemExit):
    """``fit`` stopped on a signal after writing its checkpoints; ``resume_from_checkpoint`` continues it.

    Attributes:
        signum: the signal.
        checkpoints: the files written.
    """

    def __init__(self, signum: int, checkpoints: list[str]) -> None:
        super().__init__(128 + signum)
        self.signum = signum
        self.checkpoints = checkpoints


def _checkpointers(clist: CallbackList) -> list[Any]:
    from ._checkpoint import Checkpoint

    return [cb for cb in clist.callbacks if isinstance(cb, Checkpoint) and cb.save_dir is not None]


@contextlib.contextmanager
def stop_on_signals(model: Any, clist: CallbackList) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM request a stop at the next step boundary (main thread, with a
    ``Checkpoint(save_dir=...)`` only); on leaving the block after such a stop, write the checkpoints and raise
    :class:`TrainingInterrupted`."""
    savers = _checkpointers(clist)
    if not savers or threading.current_thread() is not threading.main_thread():
        yield
        return
    st = model.state
    previous = {s: signal.getsignal(s) for s in SIGNALS}

    def request_stop(signum: int, frame: Any) -> None:
        if st.stop_signal is not None:  # the second one: what it would have done without us
            signal.signal(signum, previous[signum])
            signal.raise_signal(signum)
            return
        st.stop_signal = signum
        st.stop_training = True

    for s in SIGNALS:
        signal.signal(s, request_stop)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if st.stop_signal is not None:
        written = [cb.save_resumable() for cb in savers]
        paths = [p for p in written if p is not None]
        if model.is_master():
            name = signal.Signals(st.stop_signal).name
            print(f"fit stopped by {name} after step {st.global_step}; checkpoint: {', '.join(paths)}; "
                  "continue with model.resume_from_checkpoint(save_dir)", file=sys.stderr, flush=True)
        clist.on_train_end({})
        raise TrainingInterrupted(st.stop_signal, paths)
