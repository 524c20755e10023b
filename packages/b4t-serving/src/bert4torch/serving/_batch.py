"""Dynamic batching: calls that arrive together are merged into one call of a list-taking function."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger("bert4torch.serving")

_POLL_S = 0.001  # how often a collecting batch re-reads the in-flight count while no request arrives


class Batcher:
    """Collect keyword calls for up to ``max_wait_s`` (or ``batch_size`` of them) and run them as one call.

    A batch also closes as soon as every request the server is handling has joined it (``in_flight``, less the
    requests of batches computing now): waiting longer could only delay it, so a lone request is answered at once
    and a burst is merged as it arrives.

    ``workers`` threads take turns: one collects the next batch while the others compute theirs, so on a machine of
    several cores batches run side by side (each worker then best computes on a share of the cores: see
    ``worker_init``).

    ``func`` receives each argument as a list (one item per request) and must return a sequence of the same
    length; item ``i`` answers request ``i``. An exception fails every request of that batch and no other.

    Args:
        func: the batched function.
        batch_size: the most requests merged into one call.
        max_wait_s: how long the first request of a batch waits for companions.
        in_flight: the number of requests the server is handling (read, not yet answered); None: always wait.
        workers: how many batches may compute at once (each in its own thread).
        worker_init: called once in each worker thread before its first batch (e.g. ``torch.set_num_threads``).
    """

    def __init__(self, func: Callable[..., Sequence[Any]], batch_size: int, max_wait_s: float,
                 in_flight: Callable[[], int] | None = None, workers: int = 1,
                 worker_init: Callable[[], Any] | None = None) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1: got {batch_size}")
        if workers < 1:
            raise ValueError(f"workers must be >= 1: got {workers}")
        self.func, self.batch_size, self.max_wait_s, self.in_flight = func, batch_size, max_wait_s, in_flight
        self.workers, self.worker_init = workers, worker_init
        self._queue: queue.Queue[tuple[dict[str, Any], Future]] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._collecting = threading.Lock()  # one worker collects at a time; the others compute
        self._computing = 0  # requests in batches being computed now (they will not join a new batch)

    def submit(self, kwargs: dict[str, Any]) -> Future:
        """Queue one request's arguments; the future holds its item of the batched result."""
        with self._lock:
            if not self._threads:
                self._threads = [threading.Thread(target=self._run, name=f"b4t-serving-batcher-{i}", daemon=True)
                                 for i in range(self.workers)]
                for thread in self._threads:
                    thread.start()
        future: Future = Future()
        self._queue.put((kwargs, future))
        return future

    def _waiting_elsewhere(self) -> int:
        """Requests in flight that are neither queued behind nor computing: they may still join this batch."""
        assert self.in_flight is not None
        return self.in_flight() - self._computing

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
            if left <= 0 or (self.in_flight is not None and self._waiting_elsewhere() <= len(items)):
                break
            try:
                items.append(self._queue.get(timeout=min(left, _POLL_S)))
            except queue.Empty:
                pass
        return items

    def _run(self) -> None:
        if self.worker_init is not None:
            try:
                self.worker_init()
            except Exception:  # the worker still serves: its setting is a tuning, its absence no wrong answer
                logger.exception("worker_init failed in %s; the worker serves without it",
                                 threading.current_thread().name)
        while True:
            with self._collecting:
                items = self._collect()
                with self._lock:
                    self._computing += len(items)
            try:
                # Requests that left out different optional arguments cannot share one call's keyword lists.
                groups: dict[tuple[str, ...], list[tuple[dict[str, Any], Future]]] = {}
                for kwargs, future in items:
                    groups.setdefault(tuple(sorted(kwargs)), []).append((kwargs, future))
                for keys, group in groups.items():
                    _call_batch(self.func, keys, group)
            finally:
                with self._lock:
                    self._computing -= len(items)


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
