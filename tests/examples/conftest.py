"""Load an example script as a module (examples/ is not a package; its scripts import their sibling common.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def load_example():
    loaded, path = [], list(sys.path)

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        loaded.append(name)
        return module

    yield load
    for name in [*loaded, "common"]:  # the scripts put examples/ on sys.path to import common.py
        sys.modules.pop(name, None)
    sys.path[:] = path
