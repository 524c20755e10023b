"""BERT: parity with transformers (all heads, padding), round trips, masks, and every loading error path."""

from __future__ import annotations

import json
import pickle
import warnings

import pytest
import torch

from b4t_testing.models import TINY, assert_close_masked, random_inputs
from bert4torch.models import (
    CheckpointError,
    ConfigError,
    WeightLoadingError,
    build_transformer_model,
    load_checkpoint,
)

tr = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def hf_pretraining(tmp_path_factory):
    torch.manual_seed(0)
    model = tr.BertForPreTraining(tr.BertConfig(**TINY)).eval()
    path = tmp_path_factory.mktemp("bert_pt")
    model.save_pretrained(str(path))
    return model, path


def _ours(path, **kw):
    return build_transformer_model(path / "config.json", path, **kw).eval()


def test_parity_all_heads(hf_pretraining):
    ref, path = hf_pretraining
    ours = _ours(path, with_pool=True, with_mlm=True, with_nsp=True)
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        r = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask)
        hidden, pooled, mlm, nsp = ours([ids, seg])
        base = ref.bert(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert_close_masked(hidden, base.last_hidden_state, mask)
    assert_close_masked(pooled, base.pooler_output)
    assert_close_masked(mlm, r.prediction_logits, mask)
    assert_close_masked(nsp, r.seq_relationship_logits)
    assert ours.load_report.ok and not ours.load_report.missing


def test_outputs_follow_switches(hf_pretraining):
    _, path = hf_pretraining
    ids, seg, _ = random_inputs()
    with torch.no_grad():
        assert isinstance(_ours(path)([ids, seg]), torch.Tensor)
        out = _ours(path, with_mlm="softmax")([ids, seg])
        assert len(out) == 2 and torch.allclose(out[1].sum(-1), torch.ones(out[1].shape[:2]), atol=1e-5)
        layers = _ours(path, output_all_encoded_layers=True)([ids, seg])
        assert len(layers) == TINY["num_hidden_layers"] + 1


def test_unprefixed_checkpoint_loads(tmp_path):
    """sentence-transformers/BertModel files carry no 'bert.' prefix; the original 0.6.2 ran them with random weights."""
    torch.manual_seed(1)
    ref = tr.BertModel(tr.BertConfig(**TINY), add_pooling_layer=True).eval()
    ref.save_pretrained(str(tmp_path))
    keys = load_checkpoint(tmp_path / "model.safetensors")
    assert not any(k.startswith("bert.") for k in keys)
    ours = _ours(tmp_path, with_pool=True)
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        r = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask)
        hidden, pooled = ours([ids, seg])
    assert_close_masked(hidden, r.last_hidden_state, mask)
    assert_close_masked(pooled, r.pooler_output)


def test_save_pretrained_round_trip(hf_pretraining, tmp_path):
    ref, path = hf_pretraining
    ours = _ours(path, with_pool=True, with_mlm=True, with_nsp=True)
    ours.save_pretrained(tmp_path)
    back = tr.BertForPreTraining.from_pretrained(str(tmp_path)).eval()
    ids, seg, mask = random_inputs(seed=3)
    with torch.no_grad():
        a, b = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask), back(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert torch.equal(a.prediction_logits, b.prediction_logits)
    assert torch.equal(a.seq_relationship_logits, b.seq_relationship_logits)
    # and ours loads its own save again, both layouts
    for mapping, name in (("checkpoint", "a.safetensors"), (None, "b.bin")):
        ours.save_weights(tmp_path / name, mapping=mapping)
        again = build_transformer_model(path / "config.json", tmp_path / name, with_pool=True, with_mlm=True, with_nsp=True).eval()
        with torch.no_grad():
            assert torch.equal(again([ids, seg])[2], ours([ids, seg])[2])


def test_lm_matches_causal_reference(hf_pretraining):
    ref, path = hf_pretraining
    ours = _ours(path, application="lm")
    dec_cfg = tr.BertConfig(**TINY, is_decoder=True)
    dec = tr.BertForPreTraining(dec_cfg).eval()
    dec.load_state_dict(ref.state_dict())
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        hidden, mlm = ours([ids, seg])
        r = dec(input_ids=ids, token_type_ids=seg, attention_mask=mask)
        base = dec.bert(input_ids=ids, token_type_ids=seg, attention_mask=mask)
    assert_close_masked(hidden, base.last_hidden_state, mask)
    assert_close_masked(mlm, r.prediction_logits, mask)
    # causality: changing a later token leaves earlier positions unchanged
    ids2 = ids.clone()
    ids2[0, -1] = (ids2[0, -1] % 98) + 1
    with torch.no_grad():
        h2 = ours([ids2, seg])[0]
    assert torch.allclose(h2[0, :-1], hidden[0, :-1], atol=1e-6)


def test_unilm_mask_from_segments(hf_pretraining):
    _, path = hf_pretraining
    ours = _ours(path, application="unilm")
    seg = torch.tensor([[0, 0, 0, 1, 1, 1]])
    mask = ours.compute_attention_bias([torch.ones_like(seg), seg])[0, 0]
    expected = torch.tensor(
        [[1, 1, 1, 0, 0, 0]] * 3 + [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]], dtype=torch.bool
    )
    assert torch.equal(mask, expected)


def test_shards_index_bin_and_list(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    state = load_checkpoint(path)
    keys = sorted(state)
    half = len(keys) // 2
    from safetensors.torch import save_file

    save_file({k: state[k].contiguous() for k in keys[:half]}, str(tmp_path / "s1.safetensors"))
    torch.save({k: state[k] for k in keys[half:]}, tmp_path / "s2.bin")
    index = {"weight_map": {k: "s1.safetensors" for k in keys[:half]}}
    (tmp_path / "i.index.json").write_text(json.dumps(index))
    ids, seg, _ = random_inputs()
    full = _ours(path, with_mlm=True)
    listed = build_transformer_model(path / "config.json", [tmp_path / "s1.safetensors", tmp_path / "s2.bin"], with_mlm=True).eval()
    with torch.no_grad():
        assert torch.equal(full([ids, seg])[1], listed([ids, seg])[1])
    # the index names only shard 1: the rest is missing, and the error says so
    with pytest.raises(WeightLoadingError, match="missing"):
        build_transformer_model(path / "config.json", tmp_path / "i.index.json", with_mlm=True)


# ----------------------------------------------------------------------------------------------------- errors
def _save(state, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_missing_key_raises_and_names_it(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    state = load_checkpoint(path)
    del state["bert.encoder.layer.1.output.dense.weight"]
    ckpt = _save(state, tmp_path / "m.safetensors")
    with pytest.raises(WeightLoadingError, match=r"encoderLayer\.1\.feedForward\.outputDense\.weight") as err:
        build_transformer_model(path / "config.json", ckpt)
    assert err.value.report.missing == ["encoderLayer.1.feedForward.outputDense.weight"]
    with pytest.warns(UserWarning, match="missing"):
        model = build_transformer_model(path / "config.json", ckpt, ignore_invalid_weights=True)
    assert model.load_report.missing and not model.encoderLayer[1].feedForward.outputDense.weight.is_meta


def test_unexpected_key_raises(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    state = load_checkpoint(path)
    state["bert.encoder.layer.0.attention.self.qeury.weight"] = torch.zeros(32, 32)
    ckpt = _save(state, tmp_path / "u.safetensors")
    with pytest.raises(WeightLoadingError, match="qeury"):
        build_transformer_model(path / "config.json", ckpt)


def test_wrong_shape_raises(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    state = load_checkpoint(path)
    state["bert.encoder.layer.0.intermediate.dense.weight"] = torch.zeros(36, 32)
    ckpt = _save(state, tmp_path / "s.safetensors")
    with pytest.raises(WeightLoadingError, match=r"\(36, 32\)"):
        build_transformer_model(path / "config.json", ckpt)


def test_a_head_the_checkpoint_lacks_is_initialised_and_listed(hf_pretraining, tmp_path, caplog):
    torch.manual_seed(2)
    tr.BertModel(tr.BertConfig(**TINY)).save_pretrained(str(tmp_path))
    with caplog.at_level("WARNING", logger="bert4torch.models"):
        model = build_transformer_model(tmp_path / "config.json", tmp_path, with_mlm=True)
    assert {"mlmDense.weight", "mlmBias"} <= set(model.load_report.initialized)
    assert "mlmDense.weight" in caplog.text
    assert torch.isfinite(model.mlmBias).all() and torch.isfinite(model.mlmDense.weight).all()


def test_base_weights_the_checkpoint_lacks_still_raise(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    state = {k: v for k, v in load_checkpoint(path).items() if "layer.1.attention.self.query" not in k}
    ckpt = _save(state, tmp_path / "s.safetensors")
    with pytest.raises(WeightLoadingError, match=r"encoderLayer\.1\.multiHeadAttention\.q\.weight.*"
                                                 r"bert\.encoder\.layer\.1\.attention\.self\.query\.weight"):
        build_transformer_model(path / "config.json", ckpt)


def test_corrupt_and_truncated_files(hf_pretraining, tmp_path):
    _, path = hf_pretraining
    data = (path / "model.safetensors").read_bytes()
    (tmp_path / "t.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "g.safetensors").write_bytes(b"not a checkpoint at all")
    (tmp_path / "g.bin").write_bytes(b"\x80\x04garbage")
    for name in ("t.safetensors", "g.safetensors", "g.bin"):
        with pytest.raises(CheckpointError):
            build_transformer_model(path / "config.json", tmp_path / name)
    with pytest.raises(CheckpointError, match="not found"):
        build_transformer_model(path / "config.json", tmp_path / "absent.safetensors")
    buf = tmp_path / "trunc.bin"
    torch.save(load_checkpoint(path), buf)
    buf.write_bytes(buf.read_bytes()[:5000])
    with pytest.raises(CheckpointError):
        build_transformer_model(path / "config.json", buf)


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['B4T_EVIL']).write_text('ran')",))


def test_code_running_pickle_is_refused(hf_pretraining, tmp_path, monkeypatch):
    _, path = hf_pretraining
    marker = tmp_path / "marker"
    monkeypatch.setenv("B4T_EVIL", str(marker))
    evil = tmp_path / "evil.bin"
    with open(evil, "wb") as f:
        pickle.dump({"x": _Evil()}, f)
    torch.save({"a": _Evil()}, tmp_path / "evil2.pt")
    for file in (evil, tmp_path / "evil2.pt"):
        with pytest.raises(CheckpointError, match="weights_only"):
            build_transformer_model(path / "config.json", file)
    assert not marker.exists()


def test_unknown_config_key_names_closest(hf_pretraining):
    _, path = hf_pretraining
    with pytest.raises(ConfigError, match="with_pool"):
        build_transformer_model(path / "config.json", with_pooll=True)
    with pytest.raises(ConfigError, match="position_embedding_type"):
        build_transformer_model(**{**TINY, "position_embedding_type": "relative_key"})


def test_unknown_model_name_names_closest():
    with pytest.raises(ValueError, match="'roberta'"):
        build_transformer_model(model="robreta", **TINY)


def test_no_warnings_on_clean_load(hf_pretraining):
    _, path = hf_pretraining
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ours(path, with_pool=True)


def test_return_model_config_and_custom_class(hf_pretraining):
    from bert4torch.models import BERT

    _, path = hf_pretraining

    class Custom(BERT):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.extra = torch.nn.Linear(self.hidden_size, 3)

        def apply_final_layers(self, inputs):
            return self.extra(super().apply_final_layers(inputs))

    model, config = build_transformer_model(path / "config.json", model=Custom, return_model_config=True)
    assert config["hidden_size"] == 32
    ids, seg, _ = random_inputs()
    assert model([ids, seg]).shape == (3, 11, 3)


def test_omitted_segment_ids_mean_segment_zero(hf_pretraining):
    ref, path = hf_pretraining
    ours = _ours(path)
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        got = ours([ids])
        expected = ref.bert(input_ids=ids, attention_mask=mask).last_hidden_state
    assert_close_masked(got, expected, mask)
