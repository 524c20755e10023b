"""Property tests: the losses equal torch's equivalents or their own formulas on random inputs."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.losses import (
    FocalLoss,
    LabelSmoothingCrossEntropy,
    MultilabelCategoricalCrossentropy,
    SparseMultilabelCategoricalCrossentropy,
)

shapes = st.tuples(st.integers(1, 6), st.integers(2, 7))


def logits_and_targets(seed: int, n: int, c: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, c, generator=g, dtype=torch.float64) * 3, torch.randint(0, c, (n,), generator=g)


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1), st.floats(0.0, 1.0))
def test_label_smoothing_equals_torch(shape: tuple[int, int], seed: int, eps: float) -> None:
    x, t = logits_and_targets(seed, *shape)
    torch.testing.assert_close(LabelSmoothingCrossEntropy(eps=eps)(x, t), F.cross_entropy(x, t, label_smoothing=eps))


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1), st.floats(0.0, 4.0))
def test_focal_loss_formula_and_bounds(shape: tuple[int, int], seed: int, gamma: float) -> None:
    x, t = logits_and_targets(seed, *shape)
    pt = torch.softmax(x, -1)[torch.arange(len(t)), t]
    expected = (-((1 - pt) ** gamma) * torch.log(pt)).mean()
    got = FocalLoss(gamma=gamma)(x, t)
    torch.testing.assert_close(got, expected)
    assert got <= F.cross_entropy(x, t) + 1e-12  # the modulating factor never exceeds 1


@settings(max_examples=40, deadline=None)
@given(shapes, st.integers(0, 2**31 - 1))
def test_sparse_and_dense_multilabel_agree(shape: tuple[int, int], seed: int) -> None:
    n, c = shape
    g = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, c, generator=g, dtype=torch.float64) * 2
    k = int(torch.randint(1, c, (1,), generator=g))  # positives per row, distinct, fewer than c
    pos = torch.stack([torch.randperm(c, generator=g)[:k] for _ in range(n)])
    dense = torch.zeros(n, c, dtype=torch.float64).scatter_(1, pos, 1.0)
    sparse = SparseMultilabelCategoricalCrossentropy()(scores, pos)
    torch.testing.assert_close(sparse.mean(), MultilabelCategoricalCrossentropy()(scores, dense), atol=1e-6, rtol=1e-6)
