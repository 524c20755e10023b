"""The shared namespace: every distribution contributes a subpackage and none owns the root."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_namespace_root_has_no_files() -> None:
    offenders = [p for p in ROOT.glob("packages/*/src/bert4torch/*") if not p.is_dir()]
    assert not offenders, f"files in the namespace root break the other distributions: {offenders}"


def test_every_member_declares_its_wheel_package() -> None:
    import tomllib

    for pyproject in ROOT.glob("packages/*/pyproject.toml"):
        data = tomllib.loads(pyproject.read_text())
        assert data["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/bert4torch"], pyproject
        assert "requires-python" in data["project"], pyproject


def test_tokenizers_import_is_light() -> None:
    # what it loads, not how long it takes (benchmarks/tokenizers.py times it; a fresh environment compiles first)
    code = "import sys, bert4torch.tokenizers; print(sorted({'torch', 'numpy', 'PIL', 'requests'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_serving_and_snippets_import_without_torch() -> None:
    code = "import sys, bert4torch.serving, bert4torch.snippets; bad = {'torch', 'numpy'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True)
