"""Outputs of the original bert4torch (0.6.2) for the lm/unilm masks and UIE: see tests/assets/models/README.md."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from bert4torch.models import build_transformer_model

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"


@pytest.mark.parametrize("name", ["bert-lm", "bert-unilm", "uie"])
def test_matches_original_outputs(name):
    folder = ASSETS / name
    meta = json.loads((folder / "meta.json").read_text())
    model = build_transformer_model(folder / "bert4torch_config.json", folder / "model.safetensors", **meta["build_kwargs"]).eval()
    assert model.load_report.ok and not model.load_report.missing
    io = load_file(str(folder / "io.safetensors"))
    with torch.no_grad():
        outputs = model([io["input_ids"], io["segment_ids"]])
    outputs = outputs if isinstance(outputs, list) else [outputs]
    assert len(outputs) == len(meta["outputs"])
    keep = io["input_ids"] != 0
    assert keep.logical_not().any(), "the fixture inputs must contain padding"
    for i, out in enumerate(outputs):
        expected = io[f"output_{i}"]
        assert out.shape == expected.shape
        assert (out[keep] - expected[keep]).abs().max().item() <= 1e-5, f"output_{i}"
