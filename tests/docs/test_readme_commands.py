"""The README's two commands stay true: `hatch run demo` runs the main job, `hatch run test` runs pytest."""

from __future__ import annotations

from pathlib import Path

import tomllib

ROOT = Path(__file__).parents[2]


def test_the_two_commands_and_their_scripts():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert 'pip install "hatch==1.18.*" && hatch run demo' in readme
    assert 'pip install "hatch==1.18.*" && hatch run test' in readme
    scripts = tomllib.loads((ROOT / "hatch.toml").read_text(encoding="utf-8"))["envs"]["default"]["scripts"]
    assert scripts["demo"].split()[:2] == ["python", "examples/docstring_classification.py"]
    assert (ROOT / "examples" / "docstring_classification.py").is_file()
    assert scripts["test"].split()[0] == "pytest"


def test_the_docs_build_is_strict_and_in_ci():
    config = tomllib.loads((ROOT / "hatch.toml").read_text(encoding="utf-8"))["envs"]["docs"]
    assert "--strict" in config["scripts"]["build"]
    assert "hatch run docs:build" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
