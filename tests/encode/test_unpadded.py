"""The padding-free forward equals transformers at every real position (tiny random models of each supported family,
and the real all-MiniLM-L6-v2), and refuses the models whose forward it does not reproduce."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bert4torch.models import UnpaddedEncoder, build_transformer_model, predict_unpadded, unpadded_support
from bert4torch.models._unpadded import pack_padded, pack_sequences, unpack

tr = pytest.importorskip("transformers")


def mixed_batch(lengths: list[int], vocab: int, pad: int = 0, seed: int = 0) -> torch.Tensor:
    """Right-padded ids with [CLS]=2/[SEP]=3 ends and random tokens (>= 5) between."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lengths), max(lengths)), pad, dtype=torch.long)
    for i, n in enumerate(lengths):
        ids[i, :n] = torch.randint(5, vocab, (n,), generator=g)
        ids[i, 0], ids[i, n - 1] = 2, 3
    return ids


@pytest.mark.parametrize("family", ["bert", "roberta", "albert", "electra"])
def test_predict_unpadded_matches_transformers_at_real_positions(tmp_path: Path, tiny, family: str) -> None:
    folder = tiny.write_folder(tmp_path, family, st_files=False)
    ours = build_transformer_model(checkpoint_path=folder, model=family, add_trainer=False)
    assert unpadded_support(ours) is None
    ref = tr.AutoModel.from_pretrained(str(folder)).eval()
    ids = mixed_batch([5, 17, 9, 17, 3, 30, 12], len(tiny.VOCAB))
    segments = (torch.arange(ids.shape[1]) >= 4).long().expand_as(ids) * (ids != 0)
    keep = ids != 0
    with torch.inference_mode():
        expected = ref(input_ids=ids, attention_mask=keep.long(), token_type_ids=segments).last_hidden_state
    got = predict_unpadded(ours, [ids, segments])
    assert got.shape == expected.shape
    assert (got[keep] - expected[keep]).abs().max().item() <= 1e-5
    assert not got[~keep].any(), "padded positions come back as zeros"


def test_predict_unpadded_keeps_the_heads_and_all_layers(tmp_path: Path, tiny) -> None:
    folder = tiny.write_folder(tmp_path, "bert", st_files=False)
    ours = build_transformer_model(checkpoint_path=folder, with_pool=True, output_all_encoded_layers=True,
                                   add_trainer=False)
    ids = mixed_batch([4, 11, 7], len(tiny.VOCAB))
    keep = ids != 0
    padded_layers, padded_pooled = ours.predict([ids])
    layers, pooled = predict_unpadded(ours, [ids])
    assert len(layers) == len(padded_layers) == 3
    for a, b in zip(layers, padded_layers):
        assert (a[keep] - b[keep]).abs().max().item() <= 1e-5
    assert (pooled - padded_pooled).abs().max().item() <= 1e-5
    assert torch.equal(predict_unpadded(ours, [ids], return_all=1), pooled)


def test_left_padding_keeps_each_token_at_its_column(tmp_path: Path, tiny) -> None:
    """Whatever the padding side, each real token keeps the position the padded model gives it."""
    folder = tiny.write_folder(tmp_path, "bert", st_files=False)
    ours = build_transformer_model(checkpoint_path=folder, add_trainer=False)
    right = mixed_batch([6, 10, 3], len(tiny.VOCAB))
    left = torch.stack([torch.roll(row, int((row == 0).sum())) for row in right])
    keep = left != 0
    assert (predict_unpadded(ours, [left])[keep] - ours.predict([left])[keep]).abs().max().item() <= 1e-5


def test_bf16_plan_stays_close(tmp_path: Path, tiny) -> None:
    folder = tiny.write_folder(tmp_path, "bert", st_files=False)
    ours = build_transformer_model(checkpoint_path=folder, add_trainer=False).eval()
    seqs = [[2, 7, 8, 9, 3], [2, *range(10, 40), 3], [2, 11, 3]]
    packed = pack_sequences(seqs)
    fp32 = UnpaddedEncoder(ours)(packed)[0]
    bf16 = UnpaddedEncoder(ours, torch.bfloat16)(packed)[0]
    assert bf16.dtype == torch.bfloat16
    cos = torch.nn.functional.cosine_similarity(fp32, bf16.float(), dim=-1)
    assert cos.min().item() >= 0.999


def test_pack_and_unpack_round_trip() -> None:
    ids = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0], [9, 10, 0, 0], [11, 12, 0, 0]])
    keep = ids != 0
    packed = pack_padded(ids, keep)
    assert packed.lengths == [1, 2, 2, 3] and packed.order == [1, 2, 3, 0]
    assert packed.runs == [(0, 1, 1), (1, 2, 2), (5, 1, 3)]
    assert packed.token_ids.tolist() == [8, 9, 10, 11, 12, 5, 6, 7]
    assert packed.position_ids.tolist() == [0, 0, 1, 0, 1, 0, 1, 2]
    back = unpack(packed.token_ids[:, None].float(), packed, 4, 4, keep)[..., 0]
    assert torch.equal(back, ids.float())
    lists = pack_sequences([[5, 6, 7], [8], [9, 10]], position_start=2)
    assert lists.order == [1, 2, 0] and lists.position_ids.tolist() == [2, 2, 3, 2, 3, 4]
    assert torch.equal(unpack(lists.token_ids[:, None].float(), lists, 3, 3)[..., 0],
                       torch.tensor([[5, 6, 7], [8, 0, 0], [9, 10, 0]]).float())


def test_unsupported_models_are_refused_with_a_reason_and_predict_falls_back() -> None:
    lm = build_transformer_model(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=20, application="lm", add_trainer=False)
    assert "compute_attention_bias" in unpadded_support(lm)
    nezha = build_transformer_model(model="nezha", vocab_size=50, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=2, intermediate_size=20, add_trainer=False)
    assert unpadded_support(nezha) is not None
    with pytest.raises(ValueError, match="padding-free path cannot run"):
        UnpaddedEncoder(nezha)
    ids = torch.tensor([[2, 7, 8, 3, 0]])
    assert torch.equal(predict_unpadded(nezha, [ids]), nezha.predict([ids]))


def test_plan_follows_weight_changes(tmp_path: Path, tiny) -> None:
    folder = tiny.write_folder(tmp_path, "bert", st_files=False)
    ours = build_transformer_model(checkpoint_path=folder, add_trainer=False)
    ids = mixed_batch([5, 8], len(tiny.VOCAB))
    before = predict_unpadded(ours, [ids])
    with torch.no_grad():
        ours.encoderLayer[1].feedForward.outputDense.weight.mul_(2.0)
    after = predict_unpadded(ours, [ids])
    keep = ids != 0
    assert (after[keep] - ours.predict([ids])[keep]).abs().max().item() <= 1e-5
    assert not torch.allclose(before[keep], after[keep])


@pytest.mark.slow
def test_minilm_mixed_lengths_16_to_512(minilm_folder: Path) -> None:
    ours = build_transformer_model(checkpoint_path=minilm_folder, add_trainer=False)
    ref = tr.BertModel.from_pretrained(str(minilm_folder)).eval()
    ids = mixed_batch([16, 512, 100, 37, 250, 16, 400, 64], 30000)
    keep = ids != 0
    with torch.inference_mode():
        expected = ref(input_ids=ids, attention_mask=keep.long()).last_hidden_state
    got = predict_unpadded(ours, [ids])
    assert (got[keep] - expected[keep]).abs().max().item() <= 1e-5


def test_in_place_activations_give_the_same_values(tmp_path: Path, tiny) -> None:
    # The packed layer applies the FFN activation in place on its fresh input; each in-place form must agree exactly.
    from bert4torch.models._unpadded import _IN_PLACE

    x = torch.randn(7, 33) * 4
    for act, in_place in _IN_PLACE.items():
        assert torch.equal(in_place(x.clone()), act(x)), act
    folder = tiny.write_folder(tmp_path, "bert", st_files=False)
    model = build_transformer_model(checkpoint_path=folder, add_trainer=False)
    assert UnpaddedEncoder(model, torch.float32).layers[0].act is _IN_PLACE[model.encoderLayer[0].feedForward
                                                                           .intermediate_act_fn]
