"""Build every distribution's wheel and sdist, check their metadata, refuse versions already released.

For each member of packages/: read its version (the ``__version__`` that hatch reads), refuse it when the git tag
``<dist>-v<version>`` exists or the index folder given by ``--index`` already holds that file, list the commits
touching the distribution since its last tag, build the wheel and sdist into ``dist/``, and run ``twine check
--strict`` on them. With ``--tag`` the new tags are created after everything passed.

Usage: python tools/release.py [--only DIST ...] [--index DIR] [--tag] [--out DIR]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
_VERSION = re.compile(r'^__version__ = "([^"]+)"$', re.M)


def sh(*cmd: str | Path, cwd: Path = ROOT) -> str:
    """Run ``cmd``; exit with its output when it fails."""
    out = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"FAILED: {' '.join(map(str, cmd))}\n{out.stdout[-4000:]}\n{out.stderr[-4000:]}")
    return out.stdout


def version_of(pkg: Path) -> str:
    """The version hatch builds ``pkg`` with: the ``__version__`` line of the file ``[tool.hatch.version]`` names."""
    path = tomllib.loads((pkg / "pyproject.toml").read_text())["tool"]["hatch"]["version"]["path"]
    match = _VERSION.search((pkg / path).read_text())
    if not match:
        sys.exit(f"{pkg / path}: no line `__version__ = \"X.Y.Z\"`; hatch reads the version from there")
    return match.group(1)


def last_tag(name: str) -> str | None:
    """The newest ``<name>-v*`` tag, by version order, or None before the first release."""
    tags = sh("git", "tag", "--list", f"{name}-v*", "--sort=-v:refname").split()
    return tags[0] if tags else None


def changes_since(name: str, tag: str | None) -> list[str]:
    """One-line commits touching ``packages/<name>`` since ``tag`` (all of them before the first release)."""
    span = [f"{tag}..HEAD"] if tag else []
    return sh("git", "log", "--oneline", *span, "--", f"packages/{name}").splitlines()


def refuse_existing(name: str, version: str, index: Path | None) -> None:
    """Exit when ``name`` ``version`` is already tagged or already in the index folder."""
    if sh("git", "tag", "--list", f"{name}-v{version}").strip():
        sys.exit(f"REFUSED: {name} {version} is already released (tag {name}-v{version}); bump its __version__")
    stem = name.replace("-", "_")
    if index is not None and any(index.rglob(f"{stem}-{version}-*.whl")) | any(index.rglob(f"{stem}-{version}.tar.gz")):
        sys.exit(f"REFUSED: {name} {version} is already in the index {index}; bump its __version__")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", help="distributions to release (default: every member)")
    ap.add_argument("--index", type=Path, help="a folder of already published files (as tools/check_index.py serves)")
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument("--tag", action="store_true", help="create the <dist>-v<version> tags once all checks passed")
    args = ap.parse_args(argv)
    members = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())
    if args.only:
        unknown = set(args.only) - {p.name for p in members}
        if unknown:
            sys.exit(f"unknown distributions {sorted(unknown)}; members: {[p.name for p in members]}")
        members = [p for p in members if p.name in args.only]
    plan = [(pkg, version_of(pkg)) for pkg in members]
    for pkg, version in plan:
        refuse_existing(pkg.name, version, args.index)
    args.out.mkdir(parents=True, exist_ok=True)
    for pkg, version in plan:
        tag = last_tag(pkg.name)
        log = changes_since(pkg.name, tag)
        print(f"{pkg.name} {version} (since {tag or 'the first commit'}: {len(log)} commits)")
        for line in log[:20]:
            print(f"    {line}")
        sh(sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", args.out, pkg)
    stems = [p.name.replace("-", "_") + f"-{v}" for p, v in plan]
    files = [f for s in stems for f in sorted(args.out.glob(f"{s}*")) if f.suffix in (".whl", ".gz")]
    print(sh(sys.executable, "-m", "twine", "check", "--strict", *files).strip())
    if args.tag:
        for pkg, version in plan:
            sh("git", "tag", f"{pkg.name}-v{version}")
    print(f"built {len(files)} files for {len(plan)} distributions into {args.out}")


if __name__ == "__main__":
    main()
