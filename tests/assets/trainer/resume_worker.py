"""A training run that can kill itself (SIGKILL) at a chosen point and resume from its checkpoints.

Used by tests/trainer/test_resume.py; every run with the same --seed must end bit-identical, killed or not.
The run exercises everything a resume must restore: a shuffling DataLoader crossed by epochs that do not match
its length (4 steps per epoch over 6 batches), dropout, Adam, a warm-up schedule plus an EMA in the scheduler list,
gradient accumulation over 2 batches (so some checkpoints fall inside a window), and History.

    python resume_worker.py --out DIR --ckpt DIR [--seed S] [--kill-at N --kill-where batch|epoch|save|sigterm|sigint] [--resume]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_support"))
from b4t_testing.trainer import TinyClassifier, token_loader  # noqa: E402
from bert4torch.optimizers import extend_with_exponential_moving_average, get_linear_schedule_with_warmup  # noqa: E402
from bert4torch.trainer import BaseModel, Callback, Checkpoint, seed_everything  # noqa: E402

EPOCHS = 4
STEPS_PER_EPOCH = 4


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class StepLog(Callback):
    """Appends ``<global_step> <loss repr>`` per batch, flushed, so the lines survive a SIGKILL."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed at train end or by the kill

    def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
        self.file.write(f"{global_step} {logs['loss']!r}\n")
        self.file.flush()

    def on_train_end(self, logs=None):  # type: ignore[no-untyped-def]
        self.file.close()


class Killer(Callback):
    def __init__(self, at: int, where: str) -> None:
        self.at, self.where = at, where

    def on_batch_end(self, global_step, local_step, logs=None):  # type: ignore[no-untyped-def]
        if self.where == "batch" and global_step + 1 == self.at:
            die()
        if self.where in ("sigterm", "sigint") and global_step + 1 == self.at:
            # arrives mid-step as a real one would: the stop happens at the step boundary that follows
            os.kill(os.getpid(), signal.SIGTERM if self.where == "sigterm" else signal.SIGINT)

    def on_epoch_end(self, global_step, epoch, logs=None):  # type: ignore[no-untyped-def]
        if self.where == "epoch" and global_step == self.at:
            die()


def arm_save_bomb(after_saves: int) -> None:
    """Let ``after_saves`` checkpoint writes succeed, then tear the next one in half and SIGKILL mid-write."""
    real_save = torch.save
    count = {"n": 0}

    def save(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not (isinstance(obj, dict) and obj.get("format") == "b4t-trainer-checkpoint"):
            return real_save(obj, f, *args, **kwargs)
        count["n"] += 1
        if count["n"] <= after_saves:
            return real_save(obj, f, *args, **kwargs)
        buf = io.BytesIO()
        real_save(obj, buf)
        data = buf.getvalue()
        f.write(data[: len(data) // 2])
        f.flush()
        os.fsync(f.fileno())
        die()

    torch.save = save


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-at", type=int, default=-1)
    parser.add_argument("--kill-where", choices=["batch", "epoch", "save", "sigterm", "sigint"], default="batch")
    parser.add_argument("--resume", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)

    seed_everything(args.seed)
    model = BaseModel(TinyClassifier(hidden=16, dropout=0.2))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    ema = extend_with_exponential_moving_average(model, decay=0.9)
    warmup = get_linear_schedule_with_warmup(optimizer, 3, EPOCHS * STEPS_PER_EPOCH // 2)
    model.compile(nn.CrossEntropyLoss(), optimizer, scheduler=[ema, warmup], grad_accumulation_steps=2,
                  clip_grad_norm=1.0, metrics=["accuracy"])
    loader = token_loader(n=48, batch_size=8, shuffle=True, seed=args.seed)
    if args.resume:
        print("resumed from", model.resume_from_checkpoint(args.ckpt))
    callbacks: list[Callback] = [
        Checkpoint(save_dir=args.ckpt, method="step", step_interval=3, keep_last=3),
        Checkpoint(save_dir=args.ckpt, method="epoch", keep_last=3),
        StepLog(out / "steps.txt"),
    ]
    if args.kill_at >= 0 and not args.resume:
        if args.kill_where == "save":
            arm_save_bomb(args.kill_at)
        else:
            callbacks.append(Killer(args.kill_at, args.kill_where))
    history = model.fit(loader, steps_per_epoch=STEPS_PER_EPOCH, epochs=EPOCHS, callbacks=callbacks, verbose=0)
    torch.save(
        {
            "model": model.unwrap().state_dict(),
            "optimizer": optimizer.state_dict(),
            "warmup": warmup.state_dict(),
            "ema": ema.state_dict(),
            "history": history.history,
            "global_step": model.global_step,
        },
        out / "final.pt",
    )


if __name__ == "__main__":
    main()
