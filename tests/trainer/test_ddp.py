"""BaseModelDDP on CPU/gloo with 2 processes equals a hand-written DistributedDataParallel loop, prints only on the
master, its checkpoints move between DDP and a single process, and a DDP run resumed from its epoch-2 checkpoint
ends equal to the uninterrupted one (see tests/assets/trainer/ddp_worker.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = Path(__file__).resolve().parents[1] / "assets" / "trainer" / "ddp_worker.py"


def check_results(out: Path, proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads((out / f"rank{r}.json").read_text(encoding="utf-8")) for r in (0, 1)]
    for r in results:
        assert r["equal_to_hand_written_ddp"], r
        assert r["optimizer_equal"], r
        assert r["ddp_to_single"], r
        assert r["single_to_ddp"], r
        assert r["ddp_resume_exact"], r
        assert r["resumed_history_epochs"] == 3, r
        assert r["checkpoints"] == ["checkpoint-000000016.pt", "checkpoint-000000024.pt"]
        assert not any(k.startswith("module.") for k in r["ckpt_keys"])
    assert [r["printed_progress"] for r in results] == [True, False]


@pytest.mark.slow
def test_torchrun_two_processes(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(WORKER),
           "--out", str(tmp_path)]
    check_results(tmp_path, subprocess.run(cmd, capture_output=True, text=True, timeout=240))


@pytest.mark.slow
def test_original_local_rank_launcher(tmp_path: Path) -> None:
    # torch.distributed.launch (deprecated, still shipped) passes --local-rank=N like the original's scripts expect.
    cmd = [sys.executable, "-W", "ignore::FutureWarning", "-m", "torch.distributed.launch", "--standalone",
           "--nproc_per_node=2", str(WORKER), "--out", str(tmp_path)]
    check_results(tmp_path, subprocess.run(cmd, capture_output=True, text=True, timeout=240))
