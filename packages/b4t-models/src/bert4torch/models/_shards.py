"""Streamed ``.npy`` writing and the shards of a multi-process encode: rank ``r`` of ``w`` holds rows ``r, r+w, ...``.

Shards are written as ``<out>.rank{r}-of-{w}.npy`` with a plain file stream (the header first, since the row count
is known before encoding starts), so a writer holds one chunk at a time. :func:`merge_shards` interleaves them back
in input order, block by block.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["NpyWriter", "merge_shards", "shard_path"]

_MERGE_ROWS = 8192  # rows per merge block: bounded memory whatever the corpus size


def shard_path(out_path: str | os.PathLike, rank: int, world_size: int) -> Path:
    """Where rank ``rank`` of ``world_size`` writes its rows of ``out_path``."""
    return Path(f"{os.fspath(out_path)}.rank{rank}-of-{world_size}.npy")


class NpyWriter:
    """Write a ``[rows, dim]`` float32 ``.npy`` chunk by chunk; the row count is fixed up front and checked."""

    def __init__(self, path: str | os.PathLike, rows: int, dim: int) -> None:
        self.path, self.rows, self.written = Path(path), rows, 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()/__exit__
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                  "shape": (rows, dim)}
        np.lib.format.write_array_header_1_0(self._file, header)

    def write(self, chunk: np.ndarray) -> None:
        self.written += chunk.shape[0]
        if self.written > self.rows:
            raise ValueError(f"{self.path}: more rows than the {self.rows} announced")
        self._file.write(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())

    def close(self) -> None:
        self._file.close()
        if self.written != self.rows:
            raise ValueError(f"{self.path}: wrote {self.written} rows, announced {self.rows}")

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self._file.close()


def _find_shards(out_path: Path, world_size: int | None) -> list[Path]:
    pattern = re.compile(re.escape(out_path.name) + r"\.rank(\d+)-of-(\d+)\.npy")
    found = {int(m[1]): int(m[2]) for p in out_path.parent.iterdir() if (m := pattern.fullmatch(p.name))}
    worlds = {w for w in found.values() if world_size is None or w == world_size}
    if len(worlds) != 1:
        raise FileNotFoundError(f"no single set of shards for {out_path} (found world sizes "
                                f"{sorted(set(found.values()))}); pass world_size")
    world = worlds.pop()
    missing = [r for r in range(world) if found.get(r) != world]
    if missing:
        raise FileNotFoundError(f"shards of ranks {missing} of {world} are missing for {out_path}")
    return [shard_path(out_path, r, world) for r in range(world)]


def _blocks(shards: list[np.ndarray], total: int) -> Iterable[np.ndarray]:
    world = len(shards)
    step = _MERGE_ROWS - _MERGE_ROWS % world
    for g0 in range(0, total, step):
        g1 = min(g0 + step, total)
        block = np.empty((g1 - g0, shards[0].shape[1]), dtype=np.float32)
        for r, shard in enumerate(shards):
            count = len(range(g0 + r, g1, world))
            block[r::world] = shard[g0 // world:g0 // world + count]
        yield block


def merge_shards(out_path: str | os.PathLike, world_size: int | None = None, *, remove: bool = True) -> Path:
    """Merge the shards of ``out_path`` into one ``.npy`` in input order.

    Args:
        out_path: the path given to ``SentenceEncoder.encode_file``.
        world_size: the number of ranks (None: found from the shard names).
        remove: delete the shards after a successful merge.

    Returns:
        ``out_path``.

    Raises:
        FileNotFoundError: a shard is missing, or shards of several world sizes are present and none was chosen.
    """
    out = Path(out_path)
    paths = _find_shards(out, world_size)
    shards = [np.load(p, mmap_mode="r") for p in paths]
    total = sum(s.shape[0] for s in shards)
    expected = [len(range(r, total, len(shards))) for r in range(len(shards))]
    if [s.shape[0] for s in shards] != expected:
        raise ValueError(f"shard sizes {[s.shape[0] for s in shards]} do not split {total} rows round-robin")
    with NpyWriter(out, total, shards[0].shape[1]) as writer:
        for block in _blocks(shards, total):
            writer.write(block)
    del shards
    if remove:
        for p in paths:
            p.unlink()
    return out
