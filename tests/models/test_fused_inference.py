"""The fused inference path (``bert4torch.layers.fused_linear``): same numbers as the separate linears, a model whose
parameters stay ordinary contiguous tensors, and a cache that follows weight changes."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from b4t_testing.models import TINY
from bert4torch.layers import FUSE_MAX_ROWS, clear_fused_cache, fused_linear
from bert4torch.models import build_transformer_model

LLAMA = dict(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2)


@pytest.mark.parametrize("bias", [True, False])
def test_fused_linear_equals_the_separate_linears(bias: bool) -> None:
    torch.manual_seed(0)
    group = [nn.Linear(16, n, bias=bias) for n in (8, 4, 4)]
    x = torch.randn(2, 3, 16)
    with torch.no_grad():
        torch.testing.assert_close(fused_linear(x, group), torch.cat([lin(x) for lin in group], -1))


def test_fused_cache_follows_in_place_updates_and_new_storage() -> None:
    torch.manual_seed(0)
    group = [nn.Linear(8, 8), nn.Linear(8, 8)]
    x = torch.randn(1, 8)
    with torch.no_grad():
        fused_linear(x, group)
        group[1].weight.add_(1.0)  # an optimizer step changes weights in place
        torch.testing.assert_close(fused_linear(x, group), torch.cat([lin(x) for lin in group], -1))
        group[0].weight = nn.Parameter(torch.randn(8, 8))  # new storage (loading, .to())
        torch.testing.assert_close(fused_linear(x, group), torch.cat([lin(x) for lin in group], -1))
    clear_fused_cache()


@pytest.mark.parametrize("family", ["llama", "bert"])
def test_decoding_rows_match_the_training_path(family: str) -> None:
    torch.manual_seed(0)
    model = build_transformer_model(model=family, add_trainer=False, **(LLAMA if family == "llama" else TINY)).eval()
    ids = torch.tensor([[5, 7, 9, 11]])
    assert ids.numel() <= FUSE_MAX_ROWS
    with torch.no_grad():
        fused = model([ids])[0]
    with torch.enable_grad():  # gradients on: the separate linears
        plain = model([ids])[0].detach()
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-6)


def test_parameters_stay_contiguous_and_state_dict_saves_as_is() -> None:
    from safetensors.torch import load, save

    model = build_transformer_model(model="llama", add_trainer=False, **LLAMA).eval()
    with torch.no_grad():
        model([torch.tensor([[1, 2, 3]])])  # builds the fused copies
    state = model.state_dict()
    assert all(t.is_contiguous() for t in state.values())
    loaded = load(save({k: v for k, v in state.items() if k != "lm_head.weight" or not model.tied_weights()}))
    assert all(torch.equal(loaded[k], state[k]) for k in loaded)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    assert buffer.tell() > 0
