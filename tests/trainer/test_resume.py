"""Exact resume after SIGKILL, and crash-safe checkpoint writes.

Each case runs tests/assets/trainer/resume_worker.py in a subprocess: an uninterrupted run, and a run that kills
itself with SIGKILL (mid-epoch at a random step, right after an epoch-end checkpoint, or half-way through writing a
checkpoint) and is then resumed from its checkpoint folder. The resumed run must end with weights, optimizer,
warm-up scheduler and EMA states ``torch.equal`` to the uninterrupted run's, the same History, and the same
per-step losses (steps recomputed after the resume must repeat the killed run's values exactly).
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from b4t_testing.trainer import checkpoint_names, mlp, nested_equal
from bert4torch.trainer import BaseModel, CheckpointWarning

# the worker trains with an EMA and a warmup schedule from b4t-losses, a sibling absent in the trainer-only env
needs_losses = pytest.mark.skipif(importlib.util.find_spec("bert4torch.optimizers") is None,
                                  reason="the resume worker uses bert4torch.optimizers (b4t-losses)")

WORKER = Path(__file__).resolve().parents[1] / "assets" / "trainer" / "resume_worker.py"
TOTAL_STEPS = 16  # 4 epochs x 4 steps, see the worker


def run_worker(out: Path, ckpt: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(WORKER), "--out", str(out), "--ckpt", str(ckpt), *args],
        capture_output=True, text=True, timeout=240,
    )


def read_steps(path: Path) -> dict[int, str]:
    """step -> loss repr; a step logged twice (recomputed after a resume) must carry the same value."""
    seen: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        step, loss = line.split()
        assert seen.setdefault(int(step), loss) == loss, f"step {step} recomputed as {loss}, was {seen[int(step)]}"
    return seen


_baselines: dict[int, tuple[dict, dict[int, str]]] = {}


def baseline(seed: int, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict[int, str]]:
    if seed not in _baselines:
        root = tmp_path_factory.mktemp(f"baseline{seed}")
        proc = run_worker(root / "out", root / "ckpt", "--seed", str(seed))
        assert proc.returncode == 0, proc.stderr
        final = torch.load(root / "out" / "final.pt", weights_only=True)
        _baselines[seed] = (final, read_steps(root / "out" / "steps.txt"))
    return _baselines[seed]


def mid_epoch_step(seed: int) -> int:
    return random.Random(seed).choice([s for s in range(5, TOTAL_STEPS) if s % 4])


CASES = [
    pytest.param(11, "batch", mid_epoch_step(11), id="seed11-mid-epoch"),
    pytest.param(23, "batch", mid_epoch_step(23), id="seed23-mid-epoch"),
    pytest.param(11, "epoch", 8, id="seed11-epoch-end"),
    pytest.param(23, "save", 3, id="seed23-kill-during-4th-save"),
]


@pytest.mark.slow
@needs_losses
@pytest.mark.parametrize(("seed", "where", "kill_at"), CASES)
def test_killed_run_resumes_exactly(seed: int, where: str, kill_at: int, tmp_path: Path,
                                    tmp_path_factory: pytest.TempPathFactory) -> None:
    expected, expected_steps = baseline(seed, tmp_path_factory)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    killed = run_worker(out, ckpt, "--seed", str(seed), "--kill-at", str(kill_at), "--kill-where", where)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / "final.pt").exists()
    if where == "save":
        # The torn write stayed a temporary file; the committed checkpoints are intact.
        assert any(name.endswith(".tmp") for name in os.listdir(ckpt))
    resumed = run_worker(out, ckpt, "--seed", str(seed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    final = torch.load(out / "final.pt", weights_only=True)
    for key in ("model", "optimizer", "warmup", "ema", "history", "global_step"):
        assert nested_equal(final[key], expected[key]), key
    assert read_steps(out / "steps.txt") == expected_steps
    if where == "epoch":
        assert "checkpoint-000000008.pt" in resumed.stdout
    assert not [name for name in os.listdir(ckpt) if name.endswith(".tmp")]  # the resumed run's saves cleaned up


SIGNAL_CASES = [
    pytest.param(11, "sigterm", mid_epoch_step(11), id="seed11-sigterm-mid-epoch"),
    pytest.param(23, "sigint", mid_epoch_step(23), id="seed23-ctrl-c-mid-epoch"),
    pytest.param(11, "sigterm", 8, id="seed11-sigterm-at-epoch-end"),
]


@pytest.mark.slow
@needs_losses
@pytest.mark.parametrize(("seed", "where", "stop_at"), SIGNAL_CASES)
def test_sigterm_and_ctrl_c_stop_cleanly_with_a_checkpoint_and_resume_exactly(
    seed: int, where: str, stop_at: int, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    expected, expected_steps = baseline(seed, tmp_path_factory)
    out, ckpt = tmp_path / "out", tmp_path / "ckpt"
    stopped = run_worker(out, ckpt, "--seed", str(seed), "--kill-at", str(stop_at), "--kill-where", where)
    signum = signal.SIGTERM if where == "sigterm" else signal.SIGINT
    assert stopped.returncode == 128 + signum, stopped.stderr  # a clean exit with the shell's code
    assert "Traceback" not in stopped.stderr
    assert f"checkpoint-{stop_at:09d}.pt" in stopped.stderr  # written at the step boundary after the signal
    assert f"checkpoint-{stop_at:09d}.pt" in checkpoint_names(ckpt)
    assert not (out / "final.pt").exists()
    resumed = run_worker(out, ckpt, "--seed", str(seed), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"checkpoint-{stop_at:09d}.pt" in resumed.stdout
    final = torch.load(out / "final.pt", weights_only=True)
    for key in ("model", "optimizer", "warmup", "ema", "history", "global_step"):
        assert nested_equal(final[key], expected[key]), key
    assert read_steps(out / "steps.txt") == expected_steps


def _compiled(seed: int = 0) -> BaseModel:
    model = BaseModel(mlp(seed))
    model.compile(nn.CrossEntropyLoss(), torch.optim.Adam(model.parameters(), lr=0.1))
    return model


def test_resume_skips_a_torn_newest_checkpoint(tmp_path: Path) -> None:
    model = _compiled()
    model.save_to_checkpoint(tmp_path)  # step 0
    data = [(torch.randn(4, 4), torch.randint(0, 3, (4,)))] * 2
    model.fit(data, epochs=1, verbose=0)
    good = model.save_to_checkpoint(tmp_path)
    assert good is not None and good.endswith("checkpoint-000000002.pt")
    (tmp_path / "checkpoint-000000003.pt").write_bytes(Path(good).read_bytes()[:100])  # a torn file
    (tmp_path / ".checkpoint-000000004.pt.abc.tmp").write_bytes(b"partial")  # an unfinished write: never listed
    other = _compiled(seed=1)
    with pytest.warns(CheckpointWarning, match="checkpoint-000000003.pt"):
        loaded = other.resume_from_checkpoint(tmp_path)
    assert loaded == good
    assert nested_equal(other.unwrap().state_dict(), model.unwrap().state_dict())
    assert nested_equal(other.optimizer.state_dict(), model.optimizer.state_dict())
    assert other.global_step == 2 and other.resume_epoch == 1


def test_keep_last_prunes_only_after_success(tmp_path: Path) -> None:
    model = _compiled()
    data = [(torch.randn(4, 4), torch.randint(0, 3, (4,)))]
    for epochs in range(1, 5):
        model.fit(data, epochs=epochs, verbose=0)  # a fresh fit: one step each time
        model.state.global_step = epochs  # name the checkpoints 1..4
        model.save_to_checkpoint(tmp_path, keep_last=2)
    assert checkpoint_names(tmp_path) == ["checkpoint-000000003.pt", "checkpoint-000000004.pt"]


def test_resume_errors(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="compile"):
        BaseModel(mlp(0)).resume_from_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="no readable checkpoint"):
        _compiled().resume_from_checkpoint(tmp_path)
    torch.save({"weights": 1}, tmp_path / "checkpoint-000000001.pt")
    with pytest.warns(CheckpointWarning, match="not a b4t-trainer checkpoint"), pytest.raises(FileNotFoundError):
        _compiled().resume_from_checkpoint(tmp_path)
    model = _compiled()
    model.save_to_checkpoint(tmp_path / "b")
    other = BaseModel(mlp(0))
    other.compile(nn.CrossEntropyLoss(), torch.optim.SGD(other.parameters(), lr=0.1),
                  scheduler=torch.optim.lr_scheduler.StepLR(torch.optim.SGD(other.parameters(), lr=0.1), 1))
    with pytest.raises(ValueError, match="schedulers"):
        other.resume_from_checkpoint(tmp_path / "b")
    weights_only = BaseModel(mlp(1))
    weights_only.load_weights(next((tmp_path / "b").iterdir()))  # load_weights reads a checkpoint's weights
    assert nested_equal(weights_only.unwrap().state_dict(), model.unwrap().state_dict())


def test_in_process_resume_after_an_exception(tmp_path: Path) -> None:
    """The same guarantee without subprocesses: a crash inside fit, then a fresh model resumes."""
    from bert4torch.trainer import Callback, Checkpoint, seed_everything

    def data() -> torch.utils.data.DataLoader:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(40, 4, generator=g)
        ds = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
        return torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)

    def build() -> BaseModel:
        seed_everything(5)
        m = BaseModel(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2)))
        m.compile(nn.CrossEntropyLoss(), torch.optim.Adam(m.parameters(), lr=0.05), grad_accumulation_steps=3)
        return m

    class Crash(Callback):
        def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
            if global_step == 13:
                raise KeyboardInterrupt

    ref = build()
    ref_hist = ref.fit(data(), epochs=3, verbose=0)
    crashed = build()
    with pytest.raises(KeyboardInterrupt):
        every5 = Checkpoint(save_dir=tmp_path, method="step", step_interval=5)
        crashed.fit(data(), epochs=3, callbacks=[every5, Crash()], verbose=0)
    resumed = build()
    assert resumed.resume_from_checkpoint(tmp_path).endswith("checkpoint-000000010.pt")  # mid accumulation window
    hist = resumed.fit(data(), epochs=3, verbose=0)
    assert nested_equal(resumed.unwrap().state_dict(), ref.unwrap().state_dict())
    assert nested_equal(resumed.optimizer.state_dict(), ref.optimizer.state_dict())
    assert hist.history == ref_hist.history


@pytest.mark.parametrize("accum", [1, 3])
def test_resume_from_every_step_is_exact(accum: int, tmp_path: Path) -> None:
    """Checkpoint after every step; resuming from each one (in-process) reproduces the uninterrupted run.

    5 steps per epoch over a 4-batch shuffling loader, dropout, Adam with a warm-up schedule: every resume point
    lands at a different place in the data passes, the epochs and the accumulation windows.
    """
    get_linear_schedule_with_warmup = pytest.importorskip("bert4torch.optimizers").get_linear_schedule_with_warmup
    from bert4torch.trainer import Checkpoint, seed_everything

    def data() -> torch.utils.data.DataLoader:
        g = torch.Generator().manual_seed(0)
        x = torch.randn(16, 4, generator=g)
        ds = torch.utils.data.TensorDataset(x, (x[:, 0] > 0).long())
        return torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)

    def build() -> BaseModel:
        seed_everything(3)
        m = BaseModel(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.3), nn.Linear(8, 2)))
        opt = torch.optim.Adam(m.parameters(), lr=0.05)
        m.compile(nn.CrossEntropyLoss(), opt, scheduler=get_linear_schedule_with_warmup(opt, 2, 6),
                  grad_accumulation_steps=accum)
        return m

    ref = build()
    ref_hist = ref.fit(data(), steps_per_epoch=5, epochs=3, verbose=0,
                       callbacks=[Checkpoint(save_dir=tmp_path, method="step", step_interval=1, keep_last=None)])
    assert len(checkpoint_names(tmp_path)) == 15
    for step in range(1, 15):
        resumed = build()
        resumed.resume_from_checkpoint(tmp_path / f"checkpoint-{step:09d}.pt")
        hist = resumed.fit(data(), steps_per_epoch=5, epochs=3, verbose=0)
        assert nested_equal(resumed.unwrap().state_dict(), ref.unwrap().state_dict()), step
        assert nested_equal(resumed.optimizer.state_dict(), ref.optimizer.state_dict()), step
        assert nested_equal(resumed.scheduler.state_dict(), ref.scheduler.state_dict()), step
        assert hist.history == ref_hist.history, step


class _NoisyDataset(torch.utils.data.Dataset):
    """Random augmentation inside __getitem__: the draws come from each DataLoader worker's seed."""

    def __init__(self) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(24, 4, generator=g)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.x[i] + 0.1 * torch.randn(4)
        return x, (x[0] > 0).long()


@pytest.mark.slow
def test_resume_with_dataloader_workers_and_random_augmentation(tmp_path: Path) -> None:
    from bert4torch.trainer import Checkpoint, seed_everything

    def data() -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(_NoisyDataset(), batch_size=4, shuffle=True, num_workers=2)

    def build() -> BaseModel:
        seed_everything(9)
        m = BaseModel(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.2), nn.Linear(8, 2)))
        m.compile(nn.CrossEntropyLoss(), torch.optim.Adam(m.parameters(), lr=0.05))
        return m

    ref = build()
    ref.fit(data(), epochs=1, verbose=0,
            callbacks=[Checkpoint(save_dir=tmp_path, method="step", step_interval=4, keep_last=None)])
    resumed = build()
    resumed.resume_from_checkpoint(tmp_path / "checkpoint-000000004.pt")  # 4 of the 6 batches of the first pass
    resumed.fit(data(), epochs=1, verbose=0)
    assert nested_equal(resumed.unwrap().state_dict(), ref.unwrap().state_dict())
