"""The preallocated cache's row moves (beam search): in place, in an order that never reads an overwritten row."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.generation._static import StaticRunner, _copy_order, family_of

transformers = pytest.importorskip("transformers")
build_transformer_model = pytest.importorskip("bert4torch.models").build_transformer_model


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 8).flatmap(lambda n: st.lists(st.integers(0, n - 1), min_size=n, max_size=n)))
def test_copy_order_makes_the_gathered_rows(index: list[int]) -> None:
    rows = [f"row{i}" for i in range(len(index))]
    order, cycles = _copy_order(index)
    for into, source in order:
        assert into not in {s for _, s in order[order.index((into, source)) + 1:]}  # nobody reads it later
        rows[into] = rows[source]
    saved = {i: rows[index[i]] for i in cycles}  # the cycles read their sources before any is written
    assert all(f"row{index[i]}" == saved[i] for i in cycles)
    for i in cycles:
        rows[i] = saved[i]
    assert rows == [f"row{i}" for i in index]


@pytest.mark.parametrize("index", [
    [1, 0, 2, 5, 3, 4], [0, 0, 1, 3, 3, 3], [2, 0, 1, 4, 5, 3], [2, 2, 2, 4, 4, 4],  # within each prompt's rows
    [3, 4, 5, 0, 1, 2], [0, 0, 0, 0, 0, 0]])  # across prompts: everything is gathered
def test_reorder_moves_every_layers_rows(tmp_path, index: list[int]) -> None:
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=50))
    ref.save_pretrained(tmp_path)
    model = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="gpt2").eval()
    runner = StaticRunner(model, family_of(model), seq2seq=False, capacity=12)
    with torch.inference_mode():
        runner.start(torch.randint(0, 50, (2, 4)), torch.tensor([[1, 1, 1, 1], [0, 1, 1, 1]]))
        runner.reorder(torch.tensor([0, 0, 0, 1, 1, 1]))  # three copies of each prompt, as beams start
        for _ in range(2):
            runner.step(torch.arange(6))
            keys, values, positions, bias = runner.keys.clone(), runner.values.clone(), runner.positions, runner.bias
            runner.reorder(torch.tensor(index))
            filled = slice(0, runner.length)
            assert torch.equal(runner.keys[:, :, :, filled], keys[:, index][:, :, :, filled])
            assert torch.equal(runner.values[:, :, :, filled], values[:, index][:, :, :, filled])
            assert torch.equal(runner.positions, positions[index]) and torch.equal(runner.bias, bias[index])
