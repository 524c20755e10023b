"""Install the freshly built distributions BY NAME from a local PEP 503 index, as a user would, and smoke-test them.

Builds every wheel, lays them out as a static simple index served by ``python -m http.server`` on 127.0.0.1, next to
the usual registry (``--extra-index-url``). In a fresh venv per install line (torch==2.13.0 pre-installed where the
line needs torch, so the local CPU wheel is used) it installs the line, prints what pip installed with versions,
and runs tools/smoke.py. Then: an older sibling that misses the stated range is refused by pip's resolver, and one
distribution bumped in a temporary copy, rebuilt alone, installs beside the others and passes the smoke test.

Usage: python tools/check_index.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"
# install line -> (needs torch, smoke parts, distributions that must be exactly the b4t ones installed)
LINES: dict[str, tuple[bool, list[str], set[str]]] = {
    "b4t-tokenizers": (False, ["tokenize"], {"b4t-tokenizers"}),
    "b4t-models": (True, ["model"], {"b4t-models"}),
    "b4t[train]": (True, ["model", "fit"], {"b4t", "b4t-models", "b4t-trainer", "b4t-losses"}),
    "b4t[all]": (True, ["tokenize", "model", "fit", "generate", "serve"],
                 {"b4t", "b4t-tokenizers", "b4t-models", "b4t-trainer", "b4t-losses", "b4t-generation", "b4t-serving"}),
}


def sh(*cmd: str | Path, ok: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``cmd``; with ``ok``, exit with its output when it fails."""
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=cwd)
    if ok and out.returncode:
        sys.exit(f"FAILED: {' '.join(map(str, cmd))}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out


def write_index(files: Path, simple: Path) -> None:
    """A PEP 503 simple index of the wheels in ``files``: ``simple/<normalized name>/index.html``."""
    shutil.rmtree(simple, ignore_errors=True)
    for wheel in sorted(files.glob("*.whl")):
        name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        folder = simple / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(wheel, folder)
    for folder in simple.iterdir():
        links = "".join(f'<a href="{w.name}">{w.name}</a>\n' for w in sorted(folder.glob("*.whl")))
        (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    names = "".join(f'<a href="{f.name}/">{f.name}</a>\n' for f in sorted(simple.iterdir()) if f.is_dir())
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{names}</body></html>\n")


def build(pkg: Path, out: Path) -> None:
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, pkg)


def pip_install(py: Path, url: str, *reqs: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """``pip install`` with the local index beside the usual one; the JSON report lists what was installed."""
    return sh(py, "-m", "pip", "install", "--extra-index-url", url, "--report", "-", "-q", *reqs, ok=ok)


def installed_listing(report: str) -> dict[str, str]:
    """``{name: version}`` of what one pip install installed, from its ``--report``."""
    return {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in json.loads(report)["install"]}


def fresh_venv(path: Path, torch: bool) -> Path:
    sh(sys.executable, "-m", "venv", path)
    py = path / "bin" / "python"
    if torch:
        sh(py, "-m", "pip", "install", "-q", TORCH)
    return py


def install_line(tmp: Path, url: str, line: str) -> Path:
    """Install ``line`` in a fresh venv, print its listing, check the b4t set, run the smoke test; the venv's python."""
    needs_torch, parts, expected = LINES[line]
    t0 = time.monotonic()
    py = fresh_venv(tmp / re.sub(r"\W+", "_", line), needs_torch)
    listing = installed_listing(pip_install(py, url, line).stdout)
    print(f"pip install {line!r} installed {len(listing)}: "
          + ", ".join(f"{k}=={v}" for k, v in sorted(listing.items())))
    b4t = {k for k in listing if k == "b4t" or k.startswith("b4t-")}
    if b4t != expected:
        sys.exit(f"FAILED: {line} installed b4t distributions {sorted(b4t)}, expected {sorted(expected)}")
    if line == "b4t-tokenizers" and list(listing) != ["b4t-tokenizers"]:
        sys.exit(f"FAILED: b4t-tokenizers must install exactly one distribution, got {sorted(listing)}")
    sh(py, ROOT / "tools" / "smoke.py", *parts, cwd=tmp)  # cwd away from the repo: only installed code imports
    print(f"    smoke {' '.join(parts)}: ok ({time.monotonic() - t0:.0f} s)")
    return py


def bumped_copy(tmp: Path, dist: str, version: str) -> Path:
    """A copy of ``packages/<dist>`` whose ``__version__`` is ``version``."""
    copy = tmp / "bump" / dist
    shutil.copytree(ROOT / "packages" / dist, copy)
    init = next(copy.glob("src/bert4torch/*/__init__.py"))
    text = re.sub(r'^__version__ = "[^"]+"$', f'__version__ = "{version}"', init.read_text(), count=1, flags=re.M)
    init.write_text(text)
    return copy


def check_old_sibling_refused(tmp: Path, files: Path, py: Path) -> None:
    """An index holding only b4t-trainer 0.0.9 cannot satisfy b4t-models[trainer]: pip's resolver refuses it."""
    old_files, old_simple = tmp / "old-files", tmp / "old-simple"
    old_files.mkdir()
    shutil.copy(next(files.glob("b4t_models-*.whl")), old_files)
    build(bumped_copy(tmp, "b4t-trainer", "0.0.9"), old_files)
    write_index(old_files, old_simple)
    out = pip_install(py, old_simple.as_uri(), "b4t-models[trainer]", ok=False)
    error = out.stderr.strip().splitlines()
    if out.returncode == 0 or "b4t-trainer" not in out.stderr:
        sys.exit(f"FAILED: pip accepted an out-of-range b4t-trainer\n{out.stderr[-3000:]}")
    print("old sibling refused by pip:", " | ".join(line for line in error if "b4t-trainer" in line)[:400])


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        files, simple = tmp / "files", tmp / "simple"
        t0 = time.monotonic()
        for pkg in sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists()):
            build(pkg, files)
        write_index(files, simple)
        print(f"built {len(list(files.glob('*.whl')))} wheels ({time.monotonic() - t0:.0f} s)")
        server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory",
                                   simple], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            port = re.search(r"port (\d+)", server.stdout.readline()).group(1)
            url = f"http://127.0.0.1:{port}/"
            print(f"local index: {url}")
            pys = {line: install_line(tmp, url, line) for line in LINES}
            check_old_sibling_refused(tmp, files, pys["b4t-models"])
            build(bumped_copy(tmp, "b4t-tokenizers", "0.1.99"), files)
            write_index(files, simple)
            listing = installed_listing(pip_install(pys["b4t[all]"], url, "--upgrade", "b4t-tokenizers").stdout)
            if listing != {"b4t-tokenizers": "0.1.99"}:
                sys.exit(f"FAILED: the bumped b4t-tokenizers alone should install, got {listing}")
            sh(pys["b4t[all]"], ROOT / "tools" / "smoke.py", *LINES["b4t[all]"][1], cwd=tmp)
            print("b4t-tokenizers 0.1.99 rebuilt alone installs beside the 0.1.0 siblings; smoke test: ok")
        finally:
            server.terminate()
            server.wait()
    print(f"check_index: ok ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
