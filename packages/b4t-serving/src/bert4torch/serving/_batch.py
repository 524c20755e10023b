"""Dynamic batching: calls that arrive together are merged into one call of a list-taking function."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


_POLL_S = 0.001  # how often a collecting batch re-reads the in-flight count while no request arrives


class Batcher:
    """Collect keyword calls for up to ``max_wait_s`` (or ``batch_size`` of them) and run them as one call.

    A batch also closes as soon as every request the server is handling has joined it (``in_flight``): waiting
    longer could only delay it, so a lone request is answered at once and a burst is merged as it arrives.

    ``func`` receives each argument as a list (one item per request) and must return a sequence of the same
    length; item ``i`` answers request ``i``. An exception fails every request of that batch and no other.

    Args:
        func: the batched function.
        batch_size: the most requests merged into one call.
        max_wait_s: how long the first request of a batch waits for companions.
        in_flight: the number of requests the server is handling (read, not yet answered); None: always wait.
    """

    def __init__(self, func: Callable[..., Sequence[Any]], batch_size: int, max_wait_s: float,
                 in_flight: Callable[[], int] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1: got {batch_size}")
        self.func, self.batch_size, self.max_wait_s, self.in_flight = func, batch_size, max_wait_s, in_flight
        self._queue: queue.Queue[tuple[dict[str, Any], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, kwargs: dict[str, Any]) -> Future:
        """Queue one request's arguments; the future holds its item of the batched result."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="b4t-serving-batcher", daemon=True)
                self._thread.start()
        future: Future = Future()
        self._queue.put((kwargs, future))
        return future

    def _collect(self) -> list[tuple[dict[str, Any], Future]]:
        items = [self._queue.get()]
        end = time.monotonic() + self.max_wait_s
        while len(items) < self.batch_size:
            try:
                items.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            left = end - time.monotonic()
            if left <= 0 or (self.in_flight is not None and self.in_flight() <= len(items)):
                break
            try:
                items.append(self._queue.get(timeout=min(left, _POLL_S)))
            except queue.Empty:
                pass
        return items

    def _run(self) -> None:
        while True:
            items = self._collect()
            # Requests that left out different optional arguments cannot share one call's keyword lists.
            groups: dict[tuple[str, ...], list[tuple[dict[str, Any], Future]]] = {}
            for kwargs, future in items:
                groups.setdefault(tuple(sorted(kwargs)), []).append((kwargs, future))
            for keys, group in groups.items():
                _call_batch(self.func, keys, group)


def _call_batch(func: Callable[..., Sequence[Any]], keys: tuple[str, ...], group: list) -> None:
    live = [(kwargs, future) for kwargs, future in group if future.set_running_or_notify_cancel()]
    if not live:
        return
    try:
        results = func(**{key: [kwargs[key] for kwargs, _ in live] for key in keys})
        if len(results) != len(live):
            raise ValueError(f"a batched function must return one result per request: got {len(results)} "
                             f"for {len(live)} requests")
    except BaseException as e:  # SystemExit too: it must fail the batch's requests, not stop the batcher
        for _, future in live:
            future.set_exception(e)
        return
    for (_, future), result in zip(live, results):
        future.set_result(result)
