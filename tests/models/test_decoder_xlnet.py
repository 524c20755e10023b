"""XLNet: parity with transformers (padding and segment ids included), round trip, config defects fixed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert4torch.models import ConfigError, build_transformer_model  # noqa: E402
from bert4torch.models.xlnet import rel_shift_bnij  # noqa: E402

ATOL = 1e-5
PAD = 5


def _reference() -> Any:
    torch.manual_seed(0)
    cfg = transformers.XLNetConfig(vocab_size=99, d_model=32, n_layer=2, n_head=4, d_inner=37)
    model = transformers.XLNetLMHeadModel(cfg).eval()
    with torch.no_grad():  # transformers initialises the relative biases to zero; make them matter
        for name, p in model.named_parameters():
            if name.endswith(("r_r_bias", "r_s_bias", "r_w_bias", "seg_embed")):
                p.normal_(std=0.5)
    return model


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Any, Any, Path]:
    ref = _reference()
    ref.save_pretrained(tmp_path)
    return ref, build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="xlnet",
                                           with_lm=True).eval(), tmp_path


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(6, 99, (2, 9), generator=g)
    ids[1, 6:] = PAD
    seg = torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 0, 0, 0]])
    return ids, seg


def test_logits_match_transformers_with_padding_and_segments(pair) -> None:
    ref, ours, _ = pair
    ids, seg = _batch()
    mask = (ids != PAD).long()
    with torch.inference_mode():
        theirs = ref(ids, attention_mask=mask, token_type_ids=seg).logits
        mine = ours([ids, seg])
        theirs_noseg = ref(ids, attention_mask=mask).logits
        mine_noseg = ours([ids])
    assert (mine - theirs).abs().max().item() <= ATOL
    assert (mine_noseg - theirs_noseg).abs().max().item() <= ATOL


def test_round_trip_into_transformers(pair, tmp_path: Path) -> None:
    ref, ours, _ = pair
    ours.save_pretrained(tmp_path / "back")
    back = transformers.XLNetLMHeadModel.from_pretrained(tmp_path / "back").eval()
    ids, seg = _batch()
    with torch.inference_mode():
        assert torch.equal(back(ids, token_type_ids=seg).logits, ref(ids, token_type_ids=seg).logits)


def test_original_hand_edits_are_not_needed_and_other_variants_are_rejected(tmp_path: Path) -> None:
    options = dict(vocab_size=50, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=37)
    model = build_transformer_model(model="xlnet", with_lm=True, **options)  # no attn_type / untie_r needed
    ids = torch.randint(6, 50, (1, 5))
    assert model([ids, torch.zeros_like(ids)]).shape == (1, 5, 50)  # segment ids work (crashed in the original)
    with pytest.raises(ConfigError, match="attn_type"):
        build_transformer_model(model="xlnet", attn_type="uni", **options)


def test_rel_shift_aligns_distances_to_keys() -> None:
    q, k = 3, 4
    # column r of the unshifted scores holds the score for relative distance k - r (relative_sinusoid's order)
    x = torch.arange(k, -q, -1).float().expand(q, k + q)[None, None].clone()
    shifted = rel_shift_bnij(x, k)[0, 0]
    # the defining property: query i (at absolute position k - q + i) sees key j at distance (k - q + i) - j
    assert torch.equal(shifted, torch.tensor([[float((k - q + i) - j) for j in range(k)] for i in range(q)]))
