"""BaseModelDDP against a hand-written DistributedDataParallel loop, on CPU with gloo (2 processes).

Launched by tests/trainer/test_ddp.py with ``torchrun --standalone --nproc_per_node=2`` or with the original's
launcher style (``torch.distributed.launch``, which passes ``--local-rank``/``--local_rank``). Each rank writes
``rank<r>.json`` into --out with what it checked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_support"))
from b4t_testing.trainer import mlp, nested_equal, shutdown_distributed  # noqa: E402
from bert4torch.trainer import BaseModel, BaseModelDDP, Checkpoint  # noqa: E402

EPOCHS = 3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    # The original's launcher passes the local rank as an argument (old spelling and new).
    parser.add_argument("--local_rank", "--local-rank", type=int, default=int(os.environ.get("LOCAL_RANK", -1)))
    args = parser.parse_args()
    out = Path(args.out)
    torch.set_num_threads(1)
    dist.init_process_group(backend="gloo")
    rank = dist.get_rank()
    assert args.local_rank == rank, (args.local_rank, rank)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    dataset = TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long())
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)

    def optimizer(model: nn.Module) -> torch.optim.Optimizer:
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    ours = BaseModelDDP(mlp(0), master_rank=0)
    ours.compile(nn.CrossEntropyLoss(), optimizer(ours))
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        ours.fit(loader, epochs=EPOCHS, verbose=1, callbacks=[Checkpoint(save_dir=out / "ckpt", method="epoch")])

    ref = DistributedDataParallel(mlp(0))
    ref_opt = optimizer(ref)
    for epoch in range(EPOCHS):
        sampler.set_epoch(epoch)
        for xb, yb in loader:
            loss = nn.functional.cross_entropy(ref(xb), yb)
            loss.backward()
            ref_opt.step()
            ref_opt.zero_grad()

    result: dict[str, object] = {
        "rank": rank,
        "equal_to_hand_written_ddp": nested_equal(ours.module.state_dict(), ref.module.state_dict()),
        "optimizer_equal": nested_equal(ours.optimizer.state_dict(), ref_opt.state_dict()),
        "printed_progress": "Epoch 3/3" in stderr.getvalue(),
        "checkpoints": sorted(n for n in os.listdir(out / "ckpt") if n.startswith("checkpoint-")),
    }

    # DDP checkpoint -> single-process model -> its own checkpoint -> a fresh DDP model.
    single = BaseModel(mlp(1))
    single.compile(nn.CrossEntropyLoss(), optimizer(single))
    single.resume_from_checkpoint(out / "ckpt")
    result["ddp_to_single"] = nested_equal(single.unwrap().state_dict(), ours.module.state_dict()) and nested_equal(
        single.optimizer.state_dict(), ours.optimizer.state_dict()
    )
    result["ckpt_keys"] = sorted(torch.load(out / "ckpt" / result["checkpoints"][-1], weights_only=True)["model"])
    single.save_to_checkpoint(out / f"single{rank}")
    back = BaseModelDDP(mlp(2), master_rank=0)
    back.compile(nn.CrossEntropyLoss(), optimizer(back))
    back.resume_from_checkpoint(out / f"single{rank}")
    result["single_to_ddp"] = nested_equal(back.module.state_dict(), ours.module.state_dict()) and nested_equal(
        back.optimizer.state_dict(), ours.optimizer.state_dict()
    )
    # DDP resume: from the checkpoint taken after epoch 2, the last epoch is replayed to the same weights.
    resumed = BaseModelDDP(mlp(3), master_rank=0)
    resumed.compile(nn.CrossEntropyLoss(), optimizer(resumed))
    resumed.resume_from_checkpoint(out / "ckpt" / "checkpoint-000000016.pt")
    history = resumed.fit(loader, epochs=EPOCHS, verbose=0)
    result["ddp_resume_exact"] = nested_equal(resumed.module.state_dict(), ours.module.state_dict()) and nested_equal(
        resumed.optimizer.state_dict(), ours.optimizer.state_dict()
    )
    result["resumed_history_epochs"] = len(history.history["loss"])
    (out / f"rank{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    del ours, ref, back, resumed  # the DDP wrappers go before the process group (see shutdown_distributed)
    shutdown_distributed()


if __name__ == "__main__":
    main()
