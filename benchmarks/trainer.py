"""Per-step overhead of ``BaseModel.fit`` over a hand-written training loop, on a tiny model.

Both sides run the same steps on the same in-memory batches (forward, cross entropy, backward, SGD step,
zero_grad); the difference per step is what the trainer adds: the loop, callbacks, logs, the progress bar.
First the two are checked to end with bit-identical weights; then they are interleaved for --rounds rounds and
the script prints, per configuration, the median (min/max) of the per-round overhead in microseconds per step.
Reference: torch4keras 0.3.4 added about 200 us per step on this kind of machine (BENCHMARKS.md); goal < 50 us.

    hatch run bench-trainer [--steps 3000] [--rounds 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

import torch
from torch import nn

from bert4torch.trainer import BaseModel

# CPU time of this process, not wall time: on a shared machine the wall clock also counts the time other processes
# hold the cores, which swamps a difference of a few microseconds. --clock wall switches back.
CLOCK = time.process_time


def make_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 4))


def make_batches(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    base = [(torch.randn(8, 16, generator=g), torch.randint(0, 4, (8,), generator=g)) for _ in range(64)]
    return [base[i % 64] for i in range(n)]


def raw_loop(net: nn.Module, batches: list) -> float:
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    net.train()
    t0 = CLOCK()
    for x, y in batches:
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        loss.item()  # the trainer reads the loss every step for its logs; so does any loop that reports it
    return CLOCK() - t0


def fit_loop(net: nn.Module, batches: list, verbose: int, metrics: list[str] | None) -> float:
    model = BaseModel(net)
    model.compile(nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.01), metrics=metrics)
    t0 = CLOCK()
    with open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink), contextlib.redirect_stdout(sink):
        model.fit(batches, epochs=1, verbose=verbose)  # one epoch of len(batches) steps
    return CLOCK() - t0


CONFIGS = {
    "fit verbose=1 (progress bar)": {"verbose": 1, "metrics": None},
    "fit verbose=0": {"verbose": 0, "metrics": None},
    "fit verbose=1 + accuracy metric": {"verbose": 1, "metrics": ["accuracy"]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", default=None)
    parser.add_argument("--clock", choices=["cpu", "wall"], default="cpu")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)  # a tiny model: threads only add noise; same setting for both sides

    # Correctness first: same init, same batches, same result.
    check = make_batches(200)
    a, b = make_net(), make_net()
    raw_loop(a, check)
    fit_loop(b, check, verbose=1, metrics=None)
    same = all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    print(f"weights after 200 steps: fit == raw loop bit for bit: {same}")
    if not same:
        sys.exit("fit and the raw loop disagree; no timing printed")

    batches = make_batches(args.steps)
    for _ in range(2):  # warm-up: allocator, autograd, tqdm import
        raw_loop(make_net(), batches[:300])
        for cfg in CONFIGS.values():
            fit_loop(make_net(), batches[:300], **cfg)

    results: dict[str, dict[str, float]] = {}
    per_round: dict[str, list[float]] = {name: [] for name in CONFIGS}
    raw_us: list[float] = []
    for _ in range(args.rounds):
        for name, cfg in CONFIGS.items():  # interleave: raw, ours, raw, ours, ...
            t_raw = raw_loop(make_net(), batches)
            t_fit = fit_loop(make_net(), batches, **cfg)
            raw_us.append(t_raw / args.steps * 1e6)
            per_round[name].append((t_fit - t_raw) / args.steps * 1e6)
    print(f"raw loop: median {statistics.median(raw_us):.1f} us/step (min {min(raw_us):.1f}, max {max(raw_us):.1f}); "
          f"{args.steps} steps x {args.rounds} rounds, 1 thread, {args.clock} time")
    for name, values in per_round.items():
        med = statistics.median(values)
        results[name] = {"median_us": med, "min_us": min(values), "max_us": max(values)}
        print(f"{name:34s} overhead: median {med:6.1f} us/step (min {min(values):6.1f}, max {max(values):6.1f})")
    main_name = "fit verbose=1 (progress bar)"
    verdict = "meets" if results[main_name]["median_us"] < 50 else "misses"
    print(f"summary: fit with the progress bar adds {results[main_name]['median_us']:.1f} us/step over the raw loop "
          f"({verdict} the < 50 us goal; torch4keras 0.3.4: about 200 us)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"raw_us": raw_us, "overhead": results, "steps": args.steps, "rounds": args.rounds}, f, indent=1)


if __name__ == "__main__":
    main()
