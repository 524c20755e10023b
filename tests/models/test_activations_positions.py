"""Activations against transformers' ACT2FN; T5 and DeBERTa bucket functions against transformers."""

from __future__ import annotations

import pytest
import torch

from bert4torch.activations import ACT2FN, get_activation
from bert4torch.layers import (
    RelativePositionsEncodingDebertaV2,
    RelativePositionsEncodingT5,
    t5_relative_position_bucket,
)

tr = pytest.importorskip("transformers")


@pytest.mark.parametrize("name", ["relu", "gelu", "gelu_new", "gelu_fast", "quick_gelu", "silu", "tanh", "linear", "sigmoid", "mish"])
def test_activations_match_transformers(name):
    from transformers.activations import ACT2FN as HF

    x = torch.linspace(-6, 6, 101)
    assert torch.allclose(get_activation(name)(x), HF[name](x), atol=1e-6)


def test_unknown_activation_names_closest():
    with pytest.raises(KeyError, match="gelu"):
        get_activation("gelu_nwe")
    assert ACT2FN["softmax"](torch.zeros(2, 4)).sum().item() == pytest.approx(2.0)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_t5_buckets_match_transformers(bidirectional):
    from transformers.models.t5.modeling_t5 import T5Attention

    rel = torch.arange(-300, 300).view(1, -1)
    ours = t5_relative_position_bucket(rel, bidirectional, 32, 128)
    theirs = T5Attention._relative_position_bucket(rel, bidirectional=bidirectional, num_buckets=32, max_distance=128)
    assert torch.equal(ours, theirs)
    assert RelativePositionsEncodingT5(5, 5, 32, is_decoder=not bidirectional)(5, 5).shape == (5, 5)


def test_deberta_buckets_match_transformers():
    from transformers.models.deberta_v2.modeling_deberta_v2 import build_relative_position

    q = torch.zeros(1, 40, 8)
    theirs = build_relative_position(q, q, bucket_size=8, max_position=16)
    assert torch.equal(RelativePositionsEncodingDebertaV2(40, 40, 8, 16)(40, 40), theirs)
