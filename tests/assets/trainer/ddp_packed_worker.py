"""BaseModelDDP training built models whose linears are packed (shared buffers, column-major decoder weights).

Launched by tests/trainer/test_ddp.py with ``torchrun --standalone --nproc_per_node=2``. For a tiny llama (decoder,
column-major q/k/v and gate/up buffers) and a tiny BERT (encoder, row-major q/k/v buffer), one copy keeps the packed
layout and one is unpacked (every parameter its own contiguous tensor); both train under BaseModelDDP on the same
shards. Packing must change nothing but the memory layout: the weights end equal within float rounding, on every
rank. Each rank writes ``packed<r>.json`` into --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "_support"))
from b4t_testing.trainer import shutdown_distributed  # noqa: E402

from bert4torch.models import build_transformer_model  # noqa: E402
from bert4torch.trainer import BaseModelDDP  # noqa: E402

LLAMA = dict(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)
BERT = dict(vocab_size=50, hidden_size=16, intermediate_size=24, num_hidden_layers=2, num_attention_heads=4)


class Head(nn.Module):
    """A built model and a linear head on its first position's output (logits or hidden states)."""

    def __init__(self, body: nn.Module, width: int) -> None:
        super().__init__()
        self.body = body
        self.head = nn.Linear(width, 3)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.body([token_ids])[:, 0])


def unpack(model: nn.Module) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.data = p.detach().clone()  # own, contiguous storage


def packed_count(model: nn.Module) -> int:
    """Parameters whose storage holds more than the parameter itself (a shared packing buffer)."""
    return sum(p.untyped_storage().nbytes() > p.numel() * p.element_size() for p in model.parameters())


def train(model: nn.Module, loader: DataLoader, sampler: DistributedSampler) -> dict[str, torch.Tensor]:
    ddp = BaseModelDDP(model, master_rank=0)
    ddp.compile(nn.CrossEntropyLoss(), torch.optim.Adam(ddp.parameters(), lr=1e-2))
    ddp.fit(loader, epochs=2, verbose=0)
    return {k: v.detach().clone() for k, v in ddp.module.state_dict().items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dist.init_process_group(backend="gloo")
    rank = dist.get_rank()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 50, (32, 6), generator=g)
    dataset = TensorDataset(ids, ids[:, 1] % 3)
    sampler = DistributedSampler(dataset, shuffle=True, seed=0)
    loader = DataLoader(dataset, batch_size=4, sampler=sampler)
    result: dict[str, object] = {"rank": rank}
    for name, family, cfg in (("llama", "llama", LLAMA), ("bert", "bert", BERT)):
        torch.manual_seed(0)
        packed = Head(build_transformer_model(model=family, **cfg), 50 if family == "llama" else 16)
        plain = Head(build_transformer_model(model=family, **cfg), 50 if family == "llama" else 16)
        plain.load_state_dict(packed.state_dict())
        unpack(plain)
        result[f"{name}_packed_params"] = packed_count(packed)
        result[f"{name}_plain_packed_params"] = packed_count(plain)
        a, b = train(packed, loader, sampler), train(plain, loader, sampler)
        result[f"{name}_max_diff"] = max((a[k] - b[k]).abs().max().item() for k in a)
        result[f"{name}_still_packed"] = packed_count(packed) == result[f"{name}_packed_params"]
    (Path(args.out) / f"packed{rank}.json").write_text(json.dumps(result), encoding="utf-8")
    shutdown_distributed()


if __name__ == "__main__":
    main()
