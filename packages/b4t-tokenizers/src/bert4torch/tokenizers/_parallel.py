"""``parallel_apply`` / ``parallel_apply_generator``: map a function over an iterable with processes or threads.

Differences from the original (bert4keras port), all deliberate: the number of tasks in flight is bounded by
``max_queue_size`` (the input can be an endless generator), results can come back in input order, an exception in
``func`` is raised in the caller instead of hanging the pool, and the pool is always closed.
"""

from __future__ import annotations

import os
import random
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

_FUNC: Callable[[Any], Any] | None = None


def _init_worker(func: Callable[[Any], Any], seeds: tuple[int, ...], counter: Any, reseed: bool) -> None:
    global _FUNC
    _FUNC = func
    if not reseed:
        return
    # worker k (in start order, from a shared counter) takes seeds[k]; the others a fresh random seed
    with counter.get_lock():
        k = counter.value
        counter.value += 1
    seed = seeds[k] if k < len(seeds) else int.from_bytes(os.urandom(4), "little")
    random.seed(seed)
    np = sys.modules.get("numpy")  # seed numpy only if the task already uses it
    if np is not None:
        np.random.seed(seed % 2**32)


def _call(item: tuple[int, Any]) -> tuple[int, Any]:
    i, d = item
    return i, _FUNC(d)  # type: ignore[misc]


def parallel_apply_generator(
    func: Callable[[Any], Any],
    iterable: Iterable[Any],
    workers: int,
    max_queue_size: int,
    dummy: bool = False,
    random_seeds: bool | Sequence[int] | None = True,
    unordered: bool = True,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(index, func(item))`` for each item, computed by ``workers`` processes (or threads).

    Args:
        func: the function; with processes it must be picklable unless the platform forks.
        iterable: the inputs (may be an endless generator).
        workers: number of worker processes or threads.
        max_queue_size: most inputs submitted but not yet yielded.
        dummy: True uses threads (``multiprocessing.dummy``) instead of processes.
        random_seeds: True gives every worker process a fresh random seed (``random`` and, if loaded, numpy);
            a list gives worker k the k-th seed; False/None leaves the inherited state. Ignored for threads.
        unordered: False yields in input order.

    Raises:
        ValueError: ``workers`` or ``max_queue_size`` below 1.
        Exception: whatever ``func`` raised, re-raised here.
    """
    if workers < 1 or max_queue_size < 1:
        raise ValueError(f"workers and max_queue_size must be >= 1, got {workers} and {max_queue_size}")
    pool, call = _make_pool(func, workers, dummy, random_seeds)
    try:
        yield from _results(pool, call, iterable, max_queue_size, unordered)
    finally:
        pool.terminate()
        pool.join()


def _make_pool(
    func: Callable[[Any], Any], workers: int, dummy: bool, random_seeds: bool | Sequence[int] | None
) -> tuple[Any, Callable[[tuple[int, Any]], tuple[int, Any]]]:
    """A thread or process pool running ``func``, and the task function to submit to it."""
    if dummy:
        from multiprocessing.pool import ThreadPool

        # threads share the caller's RNG state, so there is nothing to seed
        return ThreadPool(workers), lambda item: (item[0], func(item[1]))
    import multiprocessing  # lazily: keeps the package import light

    ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    seeds: tuple[int, ...] = ()
    if random_seeds is not None and random_seeds is not False and random_seeds is not True:
        seeds = tuple(random_seeds)
    reseed = random_seeds is not None and random_seeds is not False
    return ctx.Pool(workers, _init_worker, (func, seeds, ctx.Value("i", 0), reseed)), _call


def _results(
    pool: Any, call: Callable[[tuple[int, Any]], tuple[int, Any]], iterable: Iterable[Any], max_queue_size: int,
    unordered: bool,
) -> Iterator[tuple[int, Any]]:
    """Keep at most ``max_queue_size`` tasks in flight; yield ``(index, result)`` as finished or in order."""
    pending: deque[Any] = deque()
    ready: dict[int, Any] = {}
    next_out = 0
    it = enumerate(iterable)
    exhausted = False
    while True:
        while not exhausted and len(pending) < max_queue_size:
            try:
                item = next(it)
            except StopIteration:
                exhausted = True
                break
            pending.append(pool.apply_async(call, (item,)))
        if not pending:
            return
        if unordered:
            # take the first finished task, else wait on the oldest
            for k, res in enumerate(pending):
                if res.ready():
                    del pending[k]
                    break
            else:
                res = pending.popleft()
            yield res.get()
        else:
            i, r = pending.popleft().get()
            ready[i] = r
            while next_out in ready:
                yield next_out, ready.pop(next_out)
                next_out += 1


def parallel_apply(
    func: Callable[[Any], Any],
    iterable: Iterable[Any],
    workers: int,
    max_queue_size: int,
    callback: Callable[[Any], Any] | None = None,
    dummy: bool = False,
    random_seeds: bool | Sequence[int] | None = True,
    unordered: bool = True,
) -> list[Any] | None:
    """Apply ``func`` to every item in parallel.

    Args:
        func, iterable, workers, max_queue_size, dummy, random_seeds: as in :func:`parallel_apply_generator`.
        callback: called with each result as it arrives; then nothing is returned.
        unordered: False returns results in input order (True returns them as they finish).

    Returns:
        The results (None when ``callback`` is given).
    """
    gen = parallel_apply_generator(func, iterable, workers, max_queue_size, dummy, random_seeds, unordered)
    if callback is not None:
        for _, r in gen:
            callback(r)
        return None
    return [r for _, r in gen]
