"""Issue 9's models items, each through the original's own call, config keys or converted layout.

Converted checkpoints are made here with the renames of the original's ``examples/convert_script/*.py`` (applied to
a tiny model saved by ``transformers`` or by us); numbers are checked against ``transformers`` or against the
original's formula where one exists.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import torch
from b4t_testing.models import TINY, assert_close_masked, random_inputs
from torch import nn

from bert4torch.layers import LayerNorm
from bert4torch.models import BERT, ConfigError, build_transformer_model

tr = pytest.importorskip("transformers")

ENC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64)
T5_SIZES = dict(vocab_size=99, d_model=32, d_ff=64, num_layers=2, num_heads=4)
BART_SIZES = dict(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                  decoder_attention_heads=4, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=32)


def _config(path: Path, **keys: Any) -> Path:
    path.write_text(json.dumps(keys))
    return path


def _hf_t5(tmp_path: Path) -> Any:
    torch.manual_seed(0)
    ref = tr.T5ForConditionalGeneration(tr.T5Config(**T5_SIZES, d_kv=8, decoder_start_token_id=0, eos_token_id=1,
                                                    pad_token_id=0)).eval()
    ref.save_pretrained(tmp_path)
    return ref


def _hf_bart(tmp_path: Path) -> Any:
    torch.manual_seed(0)
    ref = tr.BartForConditionalGeneration(tr.BartConfig(**BART_SIZES)).eval()
    with torch.no_grad():
        ref.final_logits_bias.normal_()  # transformers starts it at zero: make the surgery visible
    ref.save_pretrained(tmp_path)
    return ref


# --- M1 (item 1): config keys ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "extra"), [
    ("albert", {"net_structure_type": 0, "embedding_size": 16}),
    ("xlnet", {"summary_last_hidden_dropout_prob": 0.1, "output_past": True, "attn_type": "bi", "untie_r": True}),
    ("bert", {"max_relative_position": 64, "use_relative_position": True}),
])
def test_config_file_keys_no_family_reads_are_ignored_and_listed(tmp_path: Path, model: str, extra: dict) -> None:
    path = _config(tmp_path / "config.json", **ENC, **extra)
    built = build_transformer_model(path, model=model, segment_vocab_size=0 if model == "xlnet" else 2)
    unread = {k for k in extra if k not in ("embedding_size", "attn_type", "untie_r", "output_past")}
    assert unread <= set(built.config.ignored_keys)


def test_the_same_key_typed_as_a_keyword_raises_with_a_did_you_mean() -> None:
    with pytest.raises(ConfigError, match=r"unknown option 'max_relative_position'.*did you mean 'max_position'"):
        build_transformer_model(**ENC, max_relative_position=64)


# --- M2 (item 4): files written by the original's convert scripts --------------------------------------------------
def _convert_deberta_v2(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """convert_deberta_v2.py: 'query_proj' -> 'query', 'key_proj' -> 'key', 'value_proj' -> 'value'."""
    renames = {"query_proj": "query", "key_proj": "key", "value_proj": "value"}
    out = {}
    for key, value in state.items():
        for old, new in renames.items():
            key = key.replace(old, new)
        out[key] = value
    return out


def test_deberta_v2_file_from_convert_deberta_v2_gives_transformers_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tr.DebertaV2Config(**TINY, relative_attention=True, pos_att_type=["p2c", "c2p"], position_buckets=8,
                                max_relative_positions=16, norm_rel_ebd="layer_norm", share_att_key=True,
                                conv_kernel_size=3)
    ref = tr.DebertaV2ForMaskedLM(config).eval()
    ref.save_pretrained(tmp_path)
    converted = _convert_deberta_v2(ref.state_dict())
    assert any(".attention.self.query." in k for k in converted) and not any("query_proj" in k for k in converted)
    torch.save(converted, tmp_path / "bert4torch_pytorch_model.bin")
    ours = build_transformer_model(tmp_path / "config.json", tmp_path / "bert4torch_pytorch_model.bin",
                                   model="deberta_v2", with_mlm=True).eval()
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        theirs = ref(input_ids=ids, token_type_ids=seg, attention_mask=mask, output_hidden_states=True)
        mine = ours([ids, seg])
    assert_close_masked(mine[0], theirs.hidden_states[-1], mask)
    assert_close_masked(mine[1], theirs.logits, mask)


def _convert_gpt2_ml(state: dict[str, torch.Tensor], layers: int, prefix: str = "gpt2_ml") -> dict[str, torch.Tensor]:
    """convert_gpt2__gpt2-ml.py on a GPT-2 state dict (gpt2-ml's own names are GPT-2's plus an embedding norm)."""
    out = {f"{prefix}.embeddings.word_embeddings.weight": state["wte.weight"],
           f"{prefix}.embeddings.position_embeddings.weight": state["wpe.weight"],
           f"{prefix}.embeddings.LayerNorm.weight": state["emb_norm.weight"],
           f"{prefix}.embeddings.LayerNorm.bias": state["emb_norm.bias"]}
    for i in range(layers):
        p, h = f"{prefix}.encoder.layer.{i}.", f"h.{i}."
        for name, w, b in zip(("query", "key", "value"), state[h + "attn.c_attn.weight"].chunk(3, dim=1),
                              state[h + "attn.c_attn.bias"].chunk(3, dim=0)):
            out[p + f"attention.self.{name}.weight"], out[p + f"attention.self.{name}.bias"] = w.T, b
        for theirs, ours in (("attn.c_proj", "attention.output.dense"), ("mlp.c_fc", "intermediate.dense"),
                             ("mlp.c_proj", "output.dense")):
            out[p + ours + ".weight"], out[p + ours + ".bias"] = state[h + theirs + ".weight"].T, state[h + theirs + ".bias"]
        for theirs, ours in (("ln_1", "attention.output.LayerNorm"), ("ln_2", "output.LayerNorm")):
            out[p + ours + ".weight"], out[p + ours + ".bias"] = state[h + theirs + ".weight"], state[h + theirs + ".bias"]
    return out


def _gpt2_ml_input(layers: int, width: int, vocab: int, positions: int) -> dict[str, torch.Tensor]:
    """A tiny file in gpt2-ml's own layout (GPT-2's Conv1D names plus ``emb_norm``), the convert script's input."""
    torch.manual_seed(0)
    shapes = {"wte.weight": (vocab, width), "wpe.weight": (positions, width), "emb_norm.weight": (width,),
              "emb_norm.bias": (width,)}
    for i in range(layers):
        h = f"h.{i}."
        shapes.update({h + "attn.c_attn.weight": (width, 3 * width), h + "attn.c_attn.bias": (3 * width,),
                       h + "attn.c_proj.weight": (width, width), h + "attn.c_proj.bias": (width,),
                       h + "mlp.c_fc.weight": (width, 2 * width), h + "mlp.c_fc.bias": (2 * width,),
                       h + "mlp.c_proj.weight": (2 * width, width), h + "mlp.c_proj.bias": (width,),
                       h + "ln_1.weight": (width,), h + "ln_1.bias": (width,), h + "ln_2.weight": (width,),
                       h + "ln_2.bias": (width,)})
    return {k: torch.randn(shape) for k, shape in shapes.items()}


def test_gpt2_ml_file_from_convert_gpt2_ml_loads_each_tensor_where_the_script_put_it(tmp_path: Path) -> None:
    raw = _gpt2_ml_input(layers=2, width=32, vocab=99, positions=16)
    torch.save(_convert_gpt2_ml(raw, layers=2), tmp_path / "bert4torch_pytorch_model.bin")
    ours = build_transformer_model(None, tmp_path / "bert4torch_pytorch_model.bin", model="gpt2_ml", vocab_size=99,
                                   hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                                   max_position=16, segment_vocab_size=0)
    assert ours.load_report.ok and not ours.load_report.initialized
    assert torch.equal(ours.embeddings.layerNorm.weight, raw["emb_norm.weight"])
    for i, layer in enumerate(ours.encoderLayer):
        q, k, v = raw[f"h.{i}.attn.c_attn.weight"].chunk(3, dim=1)
        assert torch.equal(layer.multiHeadAttention.k.weight, k.T)
        assert torch.equal(layer.feedForward.intermediateDense.weight, raw[f"h.{i}.mlp.c_fc.weight"].T)
        assert torch.equal(layer.layerNorm1.weight, raw[f"h.{i}.ln_1.weight"])  # before the FFN (gpt2-ml's ln_1)
        assert torch.equal(layer.layerNorm2.weight, raw[f"h.{i}.ln_2.weight"])
