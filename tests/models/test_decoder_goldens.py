"""gpt2_ml and transformer_xl (no transformers class): golden outputs of an independent implementation of their
equations (tools/models_decoder_goldens.py), plus cache and left-padding checks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bert4torch.models import ConfigError, build_transformer_model

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"
ATOL = 1e-5
FAMILIES = ["gpt2_ml", "transformer_xl"]


def _load(name: str) -> tuple[torch.nn.Module, dict[str, torch.Tensor]]:
    folder = ASSETS / f"decoder_{name}"
    model = build_transformer_model(
        config_path=folder / "config.json", checkpoint_path=folder / "model.safetensors", model=name
    ).eval()
    return model, load_file(folder / "golden.safetensors")


@pytest.mark.parametrize("name", FAMILIES)
def test_logits_match_golden_equations(name: str) -> None:
    model, golden = _load(name)
    with torch.inference_mode():
        logits = model([golden["token_ids"]])
    assert (logits - golden["logits"]).abs().max().item() <= ATOL


@pytest.mark.parametrize("name", FAMILIES)
def test_cached_steps_equal_full_forward(name: str) -> None:
    model, golden = _load(name)
    ids = golden["token_ids"]
    with torch.inference_mode():
        logits, cache = model([ids[:, :4]], use_cache=True)
        steps = [logits]
        for t in range(4, ids.shape[1]):
            logits, cache = model([ids[:, t : t + 1]], past_key_values=cache, use_cache=True)
            steps.append(logits)
    assert (torch.cat(steps, 1) - golden["logits"]).abs().max().item() <= ATOL


@pytest.mark.parametrize("name", FAMILIES)
def test_left_padded_row_equals_unpadded_row(name: str) -> None:
    model, golden = _load(name)
    ids = golden["token_ids"]
    short = ids[:1, :6]
    batch = torch.cat([torch.cat([torch.zeros(1, 5, dtype=torch.long), short], 1), ids[1:]])
    mask = torch.ones_like(batch, dtype=torch.bool)
    mask[0, :5] = False
    new = ids[:, 6:8]
    with torch.inference_mode():
        alone = model([torch.cat([short, new[:1]], 1)])
        logits, cache = model([batch], attention_mask=mask, use_cache=True)
        outs = [logits]
        for t in range(2):
            logits, cache = model([new[:, t : t + 1]], past_key_values=cache, use_cache=True)
            outs.append(logits)
    assert (torch.cat(outs, 1)[0, 5:] - alone[0]).abs().max().item() <= ATOL


def test_transformer_xl_rejects_unsupported_variants() -> None:
    base = dict(vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16)
    build_transformer_model(model="transformer_xl", **base)  # no attn_type / untie_r needed
    build_transformer_model(model="transformer_xl", untie_r=False, **base)  # shared biases, the original default
    for bad in ({"cutoffs": [10]}, {"same_length": True}, {"attn_type": 1}, {"pre_lnorm": True}):
        with pytest.raises(ConfigError):
            build_transformer_model(model="transformer_xl", **base, **bad)


def test_transformer_xl_shared_biases_cache() -> None:
    torch.manual_seed(0)
    model = build_transformer_model(model="transformer_xl", vocab_size=20, hidden_size=8, num_hidden_layers=2,
                                    num_attention_heads=2, intermediate_size=16, untie_r=False).eval()
    with torch.no_grad():
        model.r_w_bias.normal_()
        model.r_r_bias.normal_()
    ids = torch.randint(0, 20, (2, 7))
    with torch.inference_mode():
        full = model([ids])
        logits, cache = model([ids[:, :3]], use_cache=True)
        outs = [logits]
        for t in range(3, 7):
            logits, cache = model([ids[:, t : t + 1]], past_key_values=cache, use_cache=True)
            outs.append(logits)
    assert (torch.cat(outs, 1) - full).abs().max().item() <= ATOL
    assert sum(1 for n, _ in model.named_parameters() if "r_w_bias" in n) == 1


@pytest.mark.parametrize("name", FAMILIES)
def test_save_pretrained_round_trip_in_our_format(name: str, tmp_path: Path) -> None:
    model, golden = _load(name)
    model.save_pretrained(tmp_path)
    again = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model=name).eval()
    with torch.inference_mode():
        assert torch.equal(again([golden["token_ids"]]), model([golden["token_ids"]]))
