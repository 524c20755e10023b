"""Sharded encoding across 2 gloo processes under torchrun gives the single-process result, in input order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bert4torch.models import SentenceEncoder

WORKER = Path(__file__).resolve().parent / "shard_worker.py"


@pytest.mark.slow
def test_two_gloo_ranks_equal_one_process(tiny_folder: Path, tiny, tmp_path: Path) -> None:  # noqa: ANN001
    texts = [f"{s} {' two' * (i % 6)}" for i, s in enumerate(tiny.SENTENCES * 4)][:29]  # odd: ranks differ in size
    lines = tmp_path / "lines.txt"
    lines.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "vectors.npy"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           "--folder", str(tiny_folder), "--lines", str(lines), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    merged = np.load(out)
    single = SentenceEncoder(tiny_folder).encode(texts)
    assert merged.shape == single.shape == (29, 32)
    np.testing.assert_allclose(merged, single, atol=1e-6)
    assert not list(tmp_path.glob("vectors.npy.rank*")), "the shards are removed after the merge"
