"""Weight layout (``pack_linears``): q/k/v and gate/up share one buffer; values, names and objects never change.

The layout is an implementation detail, so each test pins what a user can observe: the same state dict, the same
parameter objects (an optimizer built earlier keeps training them), the same gradients, and the fused path taken.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

transformers = pytest.importorskip("transformers")

from bert4torch.models import build_transformer_model  # noqa: E402
from bert4torch.layers._packed import pack_linears, packed_linear  # noqa: E402


def _llama(tmp_path: Path, **extra: object) -> nn.Module:
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, **extra,
    )
    ref = transformers.LlamaForCausalLM(cfg).eval()
    ref.save_pretrained(tmp_path)
    return build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="llama").eval()


def _groups(model: nn.Module) -> list[tuple[nn.Linear, ...]]:
    return [g for m in model.modules() if hasattr(m, "packed_groups") for g in m.packed_groups() if len(g) > 1]


def test_loaded_decoder_is_packed_and_state_dict_is_unchanged(tmp_path: Path) -> None:
    ours = _llama(tmp_path)
    groups = _groups(ours)
    assert len(groups) == 4  # q/k/v and gate/up in each of 2 layers
    x = torch.randn(1, 3, 32)
    with torch.no_grad():
        for group in groups:
            fused = packed_linear(x, group)
            assert fused is not None
            assert torch.allclose(fused, torch.cat([lin(x) for lin in group], -1), atol=1e-6)
    # the checkpoint as transformers saved it comes back key for key, value for value
    from safetensors.torch import load_file

    saved = load_file(tmp_path / "model.safetensors")
    ours.save_pretrained(tmp_path / "again")
    again = load_file(tmp_path / "again" / "model.safetensors")
    assert sorted(saved) == sorted(again)
    assert all(torch.equal(saved[k], again[k]) for k in saved)


def test_tied_head_keeps_the_embedding_layout(tmp_path: Path) -> None:
    ours = _llama(tmp_path, tie_word_embeddings=True)
    assert ours.lm_head.weight is ours.embeddings.word_embeddings.weight
    assert ours.lm_head.weight.is_contiguous()  # row-major: embedding lookups read rows


def test_to_and_half_repack_and_keep_parameter_objects(tmp_path: Path) -> None:
    ours = _llama(tmp_path)
    params = list(ours.parameters())
    opt = torch.optim.SGD(ours.parameters(), lr=0.1)
    ours.to(torch.float64)
    assert [id(p) for p in ours.parameters()] == [id(p) for p in params]
    assert all(p.dtype == torch.float64 for p in ours.parameters())
    x = torch.randn(1, 2, 32, dtype=torch.float64)
    with torch.no_grad():
        assert all(packed_linear(x, g) is not None for g in _groups(ours))
    # the optimizer built before .to() still trains the model's parameters
    before = {n: p.detach().clone() for n, p in ours.named_parameters()}
    ours.train()
    logits = ours([torch.tensor([[5, 6, 7]])])
    logits.sum().backward()
    opt.step()
    changed = [n for n, p in ours.named_parameters() if not torch.equal(before[n], p.detach())]
    assert any(".q." in n for n in changed) and any("intermediateDense2" in n for n in changed)


@pytest.mark.parametrize("column_major", [False, True])
def test_packed_gradients_equal_plain_linears(column_major: bool) -> None:
    torch.manual_seed(0)
    plain = [nn.Linear(8, n) for n in (8, 4, 4)]
    packed = [nn.Linear(8, n) for n in (8, 4, 4)]
    for a, b in zip(plain, packed):
        b.load_state_dict(a.state_dict())
    pack_linears(packed, column_major=column_major)
    assert all(lin.weight.is_contiguous() != column_major for lin in packed)
    assert packed[0].weight.untyped_storage().data_ptr() == packed[2].weight.untyped_storage().data_ptr()
    x = torch.randn(5, 8)
    sum(lin(x).pow(2).sum() for lin in plain).backward()
    sum(lin(x).pow(2).sum() for lin in packed).backward()
    for a, b in zip(plain, packed):
        assert torch.allclose(a.weight.grad, b.weight.grad, atol=1e-6)
        assert torch.allclose(a.bias.grad, b.bias.grad, atol=1e-6)
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_a_group_that_is_no_longer_packed_falls_back() -> None:
    group = (nn.Linear(8, 8), nn.Linear(8, 4))
    assert packed_linear(torch.randn(1, 8), group) is None  # never packed
    pack_linears(group, column_major=True)
    assert packed_linear(torch.randn(1, 8), group) is not None
    group[1].weight.data = group[1].weight.detach().clone()  # e.g. load_state_dict(assign=True)
    assert packed_linear(torch.randn(1, 8), group) is None
    mixed = (nn.Linear(8, 8), nn.Linear(8, 4, bias=False))
    pack_linears(mixed, column_major=True)  # weights packed, biases left as they are
    with torch.no_grad():
        assert packed_linear(torch.randn(1, 8), mixed) is None


def test_encoder_qkv_packed_row_major_and_saved_by_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                  intermediate_size=37)
    ref = transformers.BertModel(cfg).eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="bert").eval()
    ids = torch.randint(1, 99, (2, 7))
    with torch.inference_mode():
        packed_out = ours([ids])
    for group in _groups(ours):
        assert all(lin.weight.is_contiguous() for lin in group)
        assert len({lin.weight.untyped_storage().data_ptr() for lin in group}) == 1
    # a hand-written safetensors save of the state dict works (contiguous, disjoint slices of one buffer)
    save_file(ours.state_dict(), str(tmp_path / "sd.safetensors"))
    state = load_file(str(tmp_path / "sd.safetensors"))
    assert all(torch.equal(state[k], v) for k, v in ours.state_dict().items())
    # the fused path gives what the separate projections give
    with torch.inference_mode():
        for group in _groups(ours):
            group[0].weight.data = group[0].weight.detach().clone()  # unpack: the separate-linears path
        unpacked_out = ours([ids])
    assert (packed_out - unpacked_out).abs().max().item() <= 1e-6
