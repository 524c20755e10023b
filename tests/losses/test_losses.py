"""Each loss against a direct formula on hand-made tensors, and against torch where torch has an equivalent."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import bert4torch.losses as losses
from bert4torch.losses import (
    ContrastiveLoss,
    FocalLoss,
    LabelSmoothingCrossEntropy,
    MultilabelCategoricalCrossentropy,
    RDropLoss,
    SparseMultilabelCategoricalCrossentropy,
    TemporalEnsemblingLoss,
    UDALoss,
)

EXPECTED_ALL = [
    "ContrastiveLoss",
    "FocalLoss",
    "LabelSmoothingCrossEntropy",
    "MultilabelCategoricalCrossentropy",
    "RDropLoss",
    "SparseMultilabelCategoricalCrossentropy",
    "TemporalEnsemblingLoss",
    "UDALoss",
]


def test_all_is_pinned() -> None:
    assert sorted(losses.__all__) == sorted(EXPECTED_ALL)


def close(a: torch.Tensor | float, b: torch.Tensor | float, tol: float = 1e-6) -> None:
    torch.testing.assert_close(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                               atol=tol, rtol=tol)


LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]], dtype=torch.float64)
TARGET = torch.tensor([0, 2, 1, 1])


def test_focal_loss_formula() -> None:
    p = torch.softmax(LOGITS, -1)
    pt = p[torch.arange(4), TARGET]
    expected = (-((1 - pt) ** 2) * torch.log(pt)).mean()
    close(FocalLoss(gamma=2)(LOGITS, TARGET), expected)


def test_focal_loss_gamma0_is_cross_entropy_with_weight_and_ignore() -> None:
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    t = torch.tensor([0, -100, 1, 2])
    close(FocalLoss(gamma=0, weight=w)(LOGITS, t), F.cross_entropy(LOGITS, t, weight=w, ignore_index=-100))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_label_smoothing_matches_torch(reduction: str) -> None:
    t = torch.tensor([0, -100, 1, 2])
    ours = LabelSmoothingCrossEntropy(eps=0.2, reduction=reduction)(LOGITS, t)
    ref = F.cross_entropy(LOGITS, t, label_smoothing=0.2, reduction=reduction, ignore_index=-100)
    close(ours, ref)


def test_label_smoothing_formula() -> None:
    logp = torch.log_softmax(LOGITS, -1)
    per = 0.9 * -logp[torch.arange(4), TARGET] + 0.1 * (-logp.sum(-1) / 3)
    close(LabelSmoothingCrossEntropy(eps=0.1)(LOGITS, TARGET), per.mean())


def test_label_smoothing_rejects_unknown_reduction() -> None:
    with pytest.raises(ValueError, match="'mean'"):
        LabelSmoothingCrossEntropy(reduction="maen")


SCORES = torch.tensor([[1.0, -2.0, 0.5, 3.0], [-0.5, 0.0, 2.0, -1.0]], dtype=torch.float64)
MULTI = torch.tensor([[1, 0, 0, 1], [0, 0, 1, 0]], dtype=torch.float64)


def _multilabel_formula(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    rows = []
    for si, yi in zip(s, y):
        neg = torch.exp(si[yi == 0]).sum()
        pos = torch.exp(-si[yi == 1]).sum()
        rows.append(torch.log(1 + neg) + torch.log(1 + pos))
    return torch.stack(rows)


def test_multilabel_categorical_crossentropy_formula() -> None:
    close(MultilabelCategoricalCrossentropy()(SCORES, MULTI), _multilabel_formula(SCORES, MULTI).mean())


def test_multilabel_categorical_crossentropy_float32_no_overflow() -> None:
    loss = MultilabelCategoricalCrossentropy()(SCORES.float(), MULTI.float())
    assert torch.isfinite(loss)
    close(loss, _multilabel_formula(SCORES, MULTI).mean(), tol=1e-5)


def test_sparse_multilabel_matches_dense() -> None:
    dense_y = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]], dtype=torch.float64)
    ours = SparseMultilabelCategoricalCrossentropy()(SCORES, torch.tensor([[0, 3], [1, 2]]))
    close(ours, _multilabel_formula(SCORES, dense_y))
    close(ours.mean(), MultilabelCategoricalCrossentropy()(SCORES, dense_y))


def test_sparse_multilabel_mask_zero() -> None:
    # With mask_zero, id 0 is padding: row 1 has positive 3 and one pad; class 0 is never a negative.
    ours = SparseMultilabelCategoricalCrossentropy(mask_zero=True)(SCORES, torch.tensor([[3, 0], [2, 0]]))
    for i, pos in enumerate([3, 2]):
        s = SCORES[i]
        negs = [c for c in (1, 2, 3) if c != pos]
        expected = torch.log(1 + torch.exp(-s[pos])) + torch.log(1 + torch.exp(s[negs]).sum())
        close(ours[i], expected, tol=1e-6)


D = torch.tensor([0.1, 0.9, 0.3, 0.7, 0.2, 0.6], dtype=torch.float64)
Y = torch.tensor([1, 1, 0, 0, 1, 0])


@pytest.mark.parametrize("size_average", [True, False])
def test_contrastive_offline_formula(size_average: bool) -> None:
    y = Y.double()
    per = 0.5 * (y * D**2 + (1 - y) * torch.clamp(0.5 - D, min=0) ** 2)
    close(ContrastiveLoss(margin=0.5, size_average=size_average)(D, Y), per.mean() if size_average else per.sum())


def test_contrastive_online_hard_pairs() -> None:
    # Positives 0.1, 0.9, 0.2 (max 0.9); negatives 0.3, 0.7, 0.6 (min 0.3).
    # Hard negatives: < 0.9 -> all three; hard positives: > 0.3 -> 0.9 only.
    expected = 0.9**2 + sum(max(0.0, 0.8 - d) ** 2 for d in (0.3, 0.7, 0.6))
    close(ContrastiveLoss(margin=0.8, online=True)(D, Y), expected)


def _kl(p_log: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    # elementwise q * (log q - p_log), like nn.KLDivLoss(reduction='none')
    return q * (torch.log(q) - p_log)


@pytest.mark.parametrize("rank", ["adjacent", "updown"])
def test_rdrop_two_argument_form(rank: str) -> None:
    y = torch.tensor([0, 0, 2, 2])
    ce = F.cross_entropy(LOGITS, y)
    a, b = (LOGITS[1::2], LOGITS[::2]) if rank == "adjacent" else (LOGITS[:2], LOGITS[2:])
    kl = _kl(torch.log_softmax(a, -1), torch.softmax(b, -1)) + _kl(torch.log_softmax(b, -1), torch.softmax(a, -1))
    close(RDropLoss(alpha=4, rank=rank)(LOGITS, y), ce + kl.mean() / 4 * 4)


def test_rdrop_three_argument_form() -> None:
    a, b, y = LOGITS[:2], LOGITS[2:], torch.tensor([0, 1])
    ce = (F.cross_entropy(a, y) + F.cross_entropy(b, y)) / 2
    kl = _kl(torch.log_softmax(a, -1), torch.softmax(b, -1)) + _kl(torch.log_softmax(b, -1), torch.softmax(a, -1))
    close(RDropLoss(alpha=2)(a, b, y), ce + kl.mean() / 4 * 2)
    with pytest.raises(TypeError, match="RDropLoss takes"):
        RDropLoss()(a)
    with pytest.raises(ValueError, match="'updown'"):
        RDropLoss(rank="updwon")


@pytest.mark.parametrize(
    ("schedule", "eta"),
    [
        ("linear_schedule", lambda t: t),
        ("exp_schedule", lambda t: math.exp((t - 1) * 5)),
        ("log_schedule", lambda t: 1 - math.exp(-t * 5)),
    ],
)
def test_uda_tsa_schedules(schedule: str, eta) -> None:  # type: ignore[no-untyped-def]
    for step in (0, 3, 7, 10):
        close(UDALoss.get_tsa_threshold(schedule, step, 10, 0.2, 0.9), eta(step / 10) * 0.7 + 0.2)
    sup = torch.tensor([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]], dtype=torch.float64)  # p(true): ~0.91 and ~0.45
    orig = torch.tensor([[0.5, 0.1, -0.3]], dtype=torch.float64)
    aug = torch.tensor([[0.2, 0.4, 0.0]], dtype=torch.float64)
    y_pred, y = torch.cat([sup, orig, aug]), torch.tensor([0, 1])
    step, total = 6, 10
    threshold = eta(step / total)
    p_true = torch.softmax(sup, -1)[torch.arange(2), y]
    keep = p_true < threshold
    sup_loss = F.cross_entropy(sup[keep], y[keep]) if keep.any() else torch.tensor(0.0, dtype=torch.float64)
    q = torch.softmax(orig, -1)
    unsup = (q * (torch.log(q) - torch.log_softmax(aug, -1))).sum()
    total_loss, s, u = UDALoss(tsa_schedule=schedule)(y_pred, y, step, total)
    close(s, sup_loss)
    close(u, unsup)
    close(total_loss, sup_loss + unsup)


def test_uda_without_tsa_and_no_rows_kept() -> None:
    sup = torch.tensor([[5.0, 0.0]], dtype=torch.float64, requires_grad=True)
    other = torch.zeros(2, 2, dtype=torch.float64)
    y_pred = torch.cat([sup, other])
    loss = UDALoss(return_all_loss=False)(y_pred, torch.tensor([0]), 0, 10)
    close(loss, F.cross_entropy(sup, torch.tensor([0])))
    # threshold 0 at step 0 (linear): no row kept, the supervised term is a zero tensor that still backpropagates
    total, s, _ = UDALoss(tsa_schedule="linear_schedule", total_steps=10)(y_pred, torch.tensor([0]), 0)
    assert isinstance(s, torch.Tensor) and s.item() == 0.0
    total.backward()
    with pytest.raises(ValueError, match="total_steps"):
        UDALoss(tsa_schedule="linear_schedule")(y_pred.detach(), torch.tensor([0]), 0)
    with pytest.raises(ValueError, match="exp_schedule"):
        UDALoss(tsa_schedule="exp_schedul")


def test_temporal_ensembling_formula_over_epochs() -> None:
    torch.manual_seed(0)
    alpha, epochs, max_val, mult = 0.6, 4, 10.0, -5.0
    loss_fn = TemporalEnsemblingLoss(epochs=epochs, max_val=max_val, ramp_up_mult=mult, alpha=alpha)
    y = torch.tensor([0, 1])
    z_sup = torch.zeros(2, 3, dtype=torch.float64)
    z_uns = torch.zeros(3, 3, dtype=torch.float64)
    for epoch in range(6):
        ps = torch.randn(2, 3, dtype=torch.float64)
        pu = torch.randn(3, 3, dtype=torch.float64)
        total, sup, wu = loss_fn(ps, pu, y, epoch, 0)
        ratio = 2 / 5
        if epoch == 0:
            w = 0.0
        elif epoch >= epochs:
            w = max_val * ratio
        else:
            w = max_val * ratio * math.exp(mult * (1 - epoch / epochs) ** 2)
        corr = 1 - alpha**epoch if epoch else 1.0

        def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return ((torch.softmax(a, 1) - torch.softmax(b, 1)) ** 2).sum() / a.numel()

        unsup = mse(pu, z_uns / corr) + mse(ps, z_sup / corr)
        close(sup, F.cross_entropy(ps, y))
        close(wu, w * unsup)
        close(total, F.cross_entropy(ps, y) + w * unsup)
        z_sup = alpha * z_sup + (1 - alpha) * ps
        z_uns = alpha * z_uns + (1 - alpha) * pu


def test_temporal_ensembling_checks_batch_order_and_limits() -> None:
    loss_fn = TemporalEnsemblingLoss(epochs=2, max_batch_num=1)
    ps, pu = torch.zeros(2, 3), torch.zeros(1, 3)
    loss_fn(ps, pu, torch.tensor([0, 1]), 0, 0)
    only_ce = loss_fn(ps, pu, torch.tensor([0, 1]), 0, 1)  # beyond max_batch_num: plain cross entropy
    close(only_ce, math.log(3), tol=1e-6)
    with pytest.raises(ValueError, match="same batches"):
        loss_fn(ps, pu, torch.tensor([1, 1]), 1, 0)
    with pytest.raises(ValueError, match="alpha"):
        TemporalEnsemblingLoss(epochs=1, alpha=1.0)
