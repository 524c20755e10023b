"""Crash-safe file writes and the resumable-checkpoint folder layout."""

from __future__ import annotations

import os
import re
import tempfile
from typing import Any

import torch

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)\.pt$")


def _fsync_dir(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open a directory; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync it, then rename it over ``path``.

    A crash at any moment leaves either the old file or the new one, never a torn one.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        # mkstemp creates the file 0600; a file written with open() would get 0666 less the umask
        os.chmod(tmp, 0o666 & ~current_umask())
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back: the only portable way)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


RUN_MARKER = ".b4t-run-id"


def read_run_id(folder: str) -> str | None:
    """The id of the run whose checkpoints ``folder`` holds (None when no run wrote its marker there)."""
    try:
        with open(os.path.join(folder, RUN_MARKER), encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def write_run_id(folder: str, run_id: str) -> None:
    """Record ``run_id`` as the owner of the checkpoints in ``folder``."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, RUN_MARKER)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(run_id + "\n")
    os.replace(path + ".tmp", path)


def checkpoint_name(steps_done: int) -> str:
    """The file name of the checkpoint taken after ``steps_done`` steps."""
    return f"checkpoint-{steps_done:09d}.pt"


STALE_TMP_RE = re.compile(r"^\.checkpoint-\d+\.pt\..*\.tmp$")


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary files that killed checkpoint writes left in ``folder``; returns their names.

    Call it only from the one process that writes the folder, after its own write has been renamed into place.
    """
    folder = os.fspath(folder)
    removed = []
    for name in os.listdir(folder):
        if STALE_TMP_RE.match(name):
            try:
                os.remove(os.path.join(folder, name))
            except FileNotFoundError:
                continue
            removed.append(name)
    return removed


def list_checkpoints(folder: str | os.PathLike[str]) -> list[str]:
    """Committed checkpoints in ``folder``, newest first (temporary files are never listed)."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        m = CHECKPOINT_RE.match(name)
        if m:
            found.append((int(m.group(1)), os.path.join(folder, name)))
    return [p for _, p in sorted(found, reverse=True)]
