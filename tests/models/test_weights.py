"""The weight-map helpers: templates, mapping, inversion, legacy renames, and the application errors."""

from __future__ import annotations

import pytest
import torch

from bert4torch.models import build_transformer_model, invert_weight_map, load_checkpoint
from bert4torch.models._weights import apply_legacy_renames, is_unknown, map_key, template_key
from bert4torch.models.bert import BERT_WEIGHT_MAP

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)


def test_template_key_and_map_key():
    assert template_key("bert.encoder.layer.11.output.dense.weight") == ("bert.encoder.layer.{}.output.dense.weight", 11)
    assert template_key("cls.predictions.bias") == ("cls.predictions.bias", -1)
    assert map_key("bert.encoder.layer.3.attention.self.key.bias", BERT_WEIGHT_MAP) == ["encoderLayer.3.multiHeadAttention.k.bias"]
    assert map_key("bert.embeddings.position_ids", BERT_WEIGHT_MAP) is None
    assert is_unknown(map_key("bert.encoder.layer.3.attention.self.qeury.bias", BERT_WEIGHT_MAP))
    literal = {"a.groups.0.b": ["x.0.b", "x.1.b"]}
    assert map_key("a.groups.0.b", literal) == ["x.0.b", "x.1.b"]


def test_inverse_is_derived_and_first_key_wins():
    inverse = invert_weight_map(BERT_WEIGHT_MAP, 2)
    assert inverse["encoderLayer.1.feedForward.outputDense.weight"] == "bert.encoder.layer.1.output.dense.weight"
    assert inverse["mlmBias"] == "cls.predictions.bias"
    assert "bert.embeddings.position_ids" not in inverse.values()


def test_legacy_gamma_beta_renames(tmp_path):
    model = build_transformer_model(**TINY)
    model.save_weights(tmp_path / "w.safetensors", prefix="")
    state = load_checkpoint(tmp_path / "w.safetensors")
    legacy = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
              for k, v in state.items()}
    assert any(k.endswith("gamma") for k in legacy)
    assert apply_legacy_renames("bert.embeddings.LayerNorm.gamma") == "bert.embeddings.LayerNorm.weight"
    torch.save(legacy, tmp_path / "legacy.bin")
    again = build_transformer_model(None, tmp_path / "legacy.bin", **TINY).eval()
    ids = torch.randint(1, 99, (2, 5))
    with torch.no_grad():
        assert torch.equal(again([ids, torch.zeros_like(ids)]), model.eval()([ids, torch.zeros_like(ids)]))


def test_save_weights_default_is_the_state_dict(tmp_path):
    model = build_transformer_model(**TINY)
    model.save_weights(tmp_path / "s.pt")
    again = build_transformer_model(**TINY)
    again.load_state_dict(torch.load(tmp_path / "s.pt", weights_only=True))
    assert set(model.variable_mapping().values()) >= {"bert.embeddings.word_embeddings.weight"}


def test_save_weights_with_an_explicit_mapping(tmp_path):
    model = build_transformer_model(**TINY)
    model.save_weights(tmp_path / "m.safetensors", mapping={"embeddings.word_embeddings.weight": "my.words"})
    keys = set(load_checkpoint(tmp_path / "m.safetensors"))
    assert "my.words" in keys and "encoderLayer.0.multiHeadAttention.q.weight" in keys


def test_application_errors():
    with pytest.raises(ValueError, match="application"):
        build_transformer_model(model="electra", application="lm", **TINY)
    with pytest.raises(ValueError, match="application"):
        build_transformer_model(application="seq2seq", **TINY)
    with pytest.raises(ValueError, match="with_discriminator"):
        build_transformer_model(model="electra", with_pool=True, **TINY)
