"""The original's dataset helpers: ListDataset (load everything) and IterDataset (stream lines)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

from torch.utils.data import Dataset, IterableDataset

PathOrPaths = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


class ListDataset(Dataset):
    """A map-style dataset held in a list: override ``load_data(file_path)``, or pass ``data``.

    Args:
        file_path: given to ``load_data``: a file, a list of files, or (with the default ``load_data``) the items.
        data: the items themselves (when no ``file_path``).
        **kwargs: options for a subclass's ``load_data``, kept as ``self.kwargs`` (read there, e.g.
            ``self.kwargs['maxlen']``).
    """

    def __init__(self, file_path: PathOrPaths | None = None, data: Sequence[Any] | None = None, **kwargs: Any) -> None:
        self.kwargs = kwargs
        if file_path is not None:
            self.file_path = file_path
            self.data = self.load_data(file_path)
        elif data is not None:
            self.data = data
        else:
            raise ValueError("ListDataset needs a file_path (read by load_data) or data")

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int) -> Any:
        return self.data[index]

    def load_data(self, file_path: Any) -> Sequence[Any]:
        """Read ``file_path`` into a list of items; override this. The default returns ``file_path`` itself."""
        return file_path


class IterDataset(IterableDataset):
    """An iterable dataset streaming the lines of one or more files (``fit`` then needs ``steps_per_epoch``).

    Override ``load_data(file_path)`` (a generator) to parse lines into items.

    Args:
        file_path: a file or a list of files.
    """

    def __init__(self, file_path: PathOrPaths) -> None:
        if not isinstance(file_path, (str, os.PathLike, list, tuple)):
            raise ValueError("IterDataset needs a file path or a list of file paths")
        self.file_path = file_path

    def __iter__(self) -> Iterator[Any]:
        return iter(self.load_data(self.file_path))

    @staticmethod
    def load_data(file_path: Any) -> Iterator[Any]:
        """Yield the lines of the file(s), in order."""
        paths = file_path if isinstance(file_path, (list, tuple)) else [file_path]
        for path in paths:
            with open(path, encoding="utf-8") as f:
                yield from f
