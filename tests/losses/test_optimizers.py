"""Warm-up schedules against their formulas; EMA against its recurrence, and its use as a scheduler."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from torch import nn

import bert4torch.optimizers as optimizers
from bert4torch.optimizers import (
    extend_with_exponential_moving_average,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)

EXPECTED_ALL = [
    "ExponentialMovingAverage",
    "extend_with_exponential_moving_average",
    "get_cosine_schedule_with_warmup",
    "get_linear_schedule_with_warmup",
]


def test_all_is_pinned() -> None:
    assert sorted(optimizers.__all__) == sorted(EXPECTED_ALL)


def _lrs(sched: torch.optim.lr_scheduler.LambdaLR, opt: torch.optim.Optimizer, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_linear_warmup_formula() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=4, num_training_steps=10)
    expected = [2.0 * (s / 4 if s < 4 else max(0.0, (10 - s) / 6)) for s in range(12)]
    assert _lrs(sched, opt, 12) == pytest.approx(expected)
    pickle.dumps(sched.lr_lambdas[0])  # picklable: no closures


def test_cosine_warmup_formula() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_cosine_schedule_with_warmup(opt, 2, 10, min_lr_ratio=0.1)

    def f(s: int) -> float:
        if s < 2:
            return s / 2
        p = min(1.0, (s - 2) / 8)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))

    assert _lrs(sched, opt, 12) == pytest.approx([f(s) for s in range(12)])


def test_schedule_state_resumes() -> None:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_linear_schedule_with_warmup(opt, 3, 10)
    _lrs(sched, opt, 5)
    state = sched.state_dict()
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = get_linear_schedule_with_warmup(opt2, 3, 10)
    sched2.load_state_dict(state)
    opt2.load_state_dict(opt.state_dict())
    assert _lrs(sched2, opt2, 3) == _lrs(sched, opt, 3)


def test_ema_recurrence_apply_and_restore() -> None:
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    frozen = nn.Parameter(torch.ones(1), requires_grad=False)
    net.register_parameter("frozen", frozen)
    ema = extend_with_exponential_moving_average(net, decay=0.9)
    assert "frozen" not in ema.ema_weights
    shadow = {k: v.detach().clone() for k, v in net.named_parameters() if v.requires_grad}
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(3):
        net(torch.randn(4, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
        ema.step()
        for k, p in net.named_parameters():
            if k in shadow:
                shadow[k] = 0.9 * shadow[k] + 0.1 * p.detach()
    raw = {k: v.detach().clone() for k, v in net.named_parameters()}
    ema.apply_ema_weights()
    for k, p in net.named_parameters():
        if k in shadow:
            torch.testing.assert_close(p.detach(), shadow[k], atol=1e-7, rtol=0)
    ema.restore_raw_weights()
    for k, p in net.named_parameters():
        assert torch.equal(p.detach(), raw[k])
    state = ema.state_dict()
    other = extend_with_exponential_moving_average(net, decay=0.5)
    other.load_state_dict(state)
    assert other.decay == 0.9
    assert all(torch.equal(other.ema_weights[k], ema.ema_weights[k]) for k in state["ema_weights"])
    with pytest.raises(ValueError, match="EMA state"):
        extend_with_exponential_moving_average(nn.Linear(1, 1)).load_state_dict(state)


def test_import_is_torch_only() -> None:
    import subprocess
    import sys

    code = (
        "import sys, bert4torch.losses, bert4torch.optimizers\n"
        "bad = {'bert4torch.trainer', 'tensorboardX', 'transformers'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
