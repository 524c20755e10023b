"""Build every distribution's wheel and prove each installs and imports on its own.

Each wheel goes into a fresh virtual environment with only the dependencies it declares
(torch constrained to the local CPU build), then its subpackages are imported there and the
environment is checked for modules that the distribution must not pull in.

Usage: python tools/check_wheels.py [--keep]
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
# Modules that must be importable from each wheel, and modules its import must not load.
CHECKS: dict[str, tuple[list[str], set[str]]] = {
    "b4t-tokenizers": (["bert4torch.tokenizers"], {"torch", "numpy"}),
    "b4t-models": (["bert4torch.models", "bert4torch.layers", "bert4torch.activations"], set()),
    "b4t-losses": (["bert4torch.losses", "bert4torch.optimizers"], set()),
    "b4t-trainer": (["bert4torch.trainer"], set()),
    "b4t-generation": (["bert4torch.generation"], set()),
    "b4t-serving": (["bert4torch.serving"], {"torch", "numpy"}),
    "b4t": (["bert4torch.snippets"], {"torch", "numpy"}),
}
# Distributions that must not be installed as a side effect (they are siblings, not dependencies).
SIBLINGS = set(CHECKS)


def run(*cmd: str | Path, cwd: Path | None = None) -> str:
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"FAILED: {' '.join(map(str, cmd))}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out.stdout


def main() -> None:
    dist = ROOT / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    members = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
    assert {p.name for p in members} == set(CHECKS), "tools/check_wheels.py CHECKS must list every member"
    for pkg in members:
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, pkg)
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("torch==2.13.0\n")
        for pkg in members:
            name = pkg.name
            meta = tomllib.loads((pkg / "pyproject.toml").read_text())["project"]
            wheel = next(dist.glob(name.replace("-", "_") + "-*.whl"))
            venv = Path(tmp) / name
            run(sys.executable, "-m", "venv", venv)
            py = venv / "bin" / "python"
            run(py, "-m", "pip", "install", "-q", "-c", constraints, wheel)
            installed = {line.split("==")[0].lower().replace("_", "-") for line in run(py, "-m", "pip", "freeze").split()}
            extra_siblings = (installed & SIBLINGS) - {name}
            if extra_siblings:
                sys.exit(f"FAILED: {name} pulled in sibling distributions {sorted(extra_siblings)}")
            modules, forbidden = CHECKS[name]
            code = (
                "import importlib, sys\n"
                f"for m in {modules!r}: importlib.import_module(m)\n"
                f"bad = {forbidden!r} & set(sys.modules)\n"
                "assert not bad, f'import loaded {bad}'\n"
            )
            run(py, "-c", code, cwd=Path(tmp))  # cwd away from the repo: only the wheel is importable
            print(f"ok  {name}: {len(meta.get('dependencies', []))} declared dependencies, imports {', '.join(modules)}")
    if "--keep" not in sys.argv:
        shutil.rmtree(dist)
    print(f"{len(members)} passed, 0 failed")


if __name__ == "__main__":
    main()
