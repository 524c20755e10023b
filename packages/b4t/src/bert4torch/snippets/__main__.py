"""``python -m bert4torch.snippets``: which b4t distributions are installed, at which versions, and what is missing.

The output is meant to be pasted into a bug report. It reads installed metadata only and imports nothing heavy.
"""

from __future__ import annotations

import platform
import re
import sys
from importlib import metadata

DISTRIBUTIONS = ("b4t", "b4t-tokenizers", "b4t-models", "b4t-losses", "b4t-trainer", "b4t-generation", "b4t-serving")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA = re.compile(r"""extra\s*==\s*["']([^"']+)["']""")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def missing_extras(dist: str) -> dict[str, list[str]]:
    """Per extra of the installed ``dist``, the requirements of that extra that are not installed.

    Args:
        dist: an installed distribution name.

    Returns:
        ``{extra: [requirement, ...]}`` for the extras with at least one requirement missing.
    """
    missing: dict[str, list[str]] = {}
    for req in metadata.requires(dist) or []:
        requirement, _, marker = req.partition(";")
        extra = _EXTRA.search(marker)
        name = _NAME.match(requirement)
        if extra and name and _version(name.group(1)) is None:
            missing.setdefault(extra.group(1), []).append(requirement.strip())
    return missing


def report() -> str:
    """The report as text: Python, torch, each b4t distribution's version (or absence) and its missing extras."""
    lines = [f"python {platform.python_version()} ({sys.platform})", f"torch {_version('torch') or 'not installed'}"]
    for dist in DISTRIBUTIONS:
        version = _version(dist)
        lines.append(f"{dist:<16} {version or 'not installed'}")
        if version is None:
            continue
        for extra, reqs in sorted(missing_extras(dist).items()):
            lines.append(f"{'':<16}   extra [{extra}] missing: {', '.join(reqs)}  (pip install '{dist}[{extra}]')")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
