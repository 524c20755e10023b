"""State-dict names are the checkpoint contract: every family's parameter names, shapes and shared tensors are pinned.

``state_dict_names.json`` was written from the model code as it stood before the layers were unified (the keys
weight maps and files saved with ``save_weights()`` rely on). A change that renames, reshapes, drops, adds or unties
a parameter fails here. Regenerate only for a deliberate, documented change of the contract:
``hatch run python tests/models/test_state_dict_names.py --write``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from bert4torch.models import build_transformer_model

PINNED = Path(__file__).with_name("state_dict_names.json")

ENC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
           max_position=64, segment_vocab_size=2)
DEC = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
T5 = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=3, num_heads=4)
HEADS = dict(with_pool=True, with_nsp=True, with_mlm=True)

# case name -> (model=, application, options); user modules are made per build (see _options)
CASES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "bert": ("bert", "encoder", {**ENC, **HEADS}),
    "bert_untied": ("bert", "encoder", {**ENC, "with_mlm": True, "tie_emb_prj_weight": False}),
    "bert_conditional": ("bert", "encoder", {**ENC, "with_mlm": True, "layer_norm_cond": "Embedding(3, 8)",
                                             "layer_add_embs": "Embedding(5, 32)"}),
    "bert_lm": ("bert", "lm", ENC),
    "bert_unilm": ("bert", "unilm", ENC),
    "encoder": ("encoder", "encoder", ENC),
    "roberta": ("roberta", "encoder", {**ENC, "with_mlm": True, "roberta_position_ids": True}),
    "albert": ("albert", "encoder", {**ENC, **HEADS, "embedding_size": 16}),
    "albert_unshared": ("albert_unshared", "encoder", {**ENC, "with_mlm": True, "embedding_size": 16}),
    "electra": ("electra", "encoder", {**ENC, "embedding_size": 16, "with_discriminator": True}),
    "nezha": ("nezha", "encoder", {**ENC, **HEADS}),
    "roformer": ("roformer", "encoder", {**ENC, "with_mlm": True, "embedding_size": 16}),
    "roformer_v2": ("roformer_v2", "encoder", {**ENC, "with_mlm": True}),
    "ernie": ("ernie", "encoder", {**ENC, **HEADS, "use_task_id": True}),
    "deberta_v2": ("deberta_v2", "encoder", {**ENC, "with_mlm": True, "relative_attention": True,
                                             "pos_att_type": "c2p|p2c", "position_buckets": 8,
                                             "max_relative_positions": 16, "norm_rel_ebd": "layer_norm",
                                             "conv_kernel_size": 3, "embedding_size": 16}),
    "deberta_v2_shared_key": ("deberta_v2", "encoder", {**ENC, "relative_attention": True, "share_att_key": True,
                                                        "pos_att_type": ["p2c", "c2p"], "position_biased_input": False}),
    "gau_alpha": ("gau_alpha", "encoder", {**ENC, "with_mlm": True, "attention_key_size": 8}),
    "uie": ("uie", "encoder", {**ENC, "use_task_id": True}),
    "gpt": ("gpt", "encoder", {**DEC, "segment_vocab_size": 2}),
    "gpt2": ("gpt2", "encoder", DEC),
    "gpt2_untied": ("gpt2", "encoder", {**DEC, "tie_word_embeddings": False}),
    "gpt2_ml": ("gpt2_ml", "encoder", DEC),
    "llama": ("llama", "encoder", {**DEC, "num_key_value_heads": 2}),
    "llama_biases_tied": ("llama", "encoder", {**DEC, "num_key_value_heads": 1, "attention_bias": True,
                                               "mlp_bias": True, "tie_word_embeddings": True}),
    "qwen2": ("qwen2", "encoder", {**DEC, "num_key_value_heads": 2}),
    "t5": ("t5", "encoder", T5),
    "t5.1.1": ("t5.1.1", "encoder", T5),
    "mt5.1.1": ("mt5.1.1", "encoder", T5),
    "t5_encoder": ("t5_encoder", "encoder", T5),
    "t5.1.1_decoder": ("t5.1.1_decoder", "encoder", T5),
    "bart": ("bart", "encoder", {**DEC, "num_decoder_layers": 3}),
    "transformer": ("transformer", "encoder", {**DEC, "src_vocab_size": 50, "tgt_vocab_size": 60}),
    "transformer_shared": ("transformer", "encoder", {**DEC, "tie_emb_src_tgt_weight": True,
                                                      "final_logits_bias": True}),
    "decoder": ("decoder", "encoder", DEC),
    "xlnet": ("xlnet", "encoder", {**DEC, "with_lm": True}),
    "transformer_xl": ("transformer_xl", "encoder", DEC),
    "transformer_xl_shared_r": ("transformer_xl", "encoder", {**DEC, "untie_r": False}),
}


def _options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for key in ("layer_norm_cond", "layer_add_embs"):
        if key in out:
            rows, cols = (int(x) for x in out[key][len("Embedding("):-1].split(","))
            out[key] = torch.nn.Embedding(rows, cols)
    return out


def describe(case: str) -> dict[str, Any]:
    """``{"params": {name: shape}, "shared": [[names sharing one tensor], ...]}`` of one case's state dict."""
    model_name, application, options = CASES[case]
    model = build_transformer_model(model=model_name, application=application, add_trainer=False, **_options(options))
    state = model.state_dict(keep_vars=True)
    groups: dict[int, list[str]] = {}
    for name, tensor in state.items():
        groups.setdefault(id(tensor), []).append(name)
    return {
        "params": {name: list(tensor.shape) for name, tensor in state.items()},
        "shared": sorted(sorted(names) for names in groups.values() if len(names) > 1),
    }


@pytest.mark.parametrize("case", sorted(CASES))
def test_state_dict_names_shapes_and_ties_are_pinned(case: str) -> None:
    pinned = json.loads(PINNED.read_text())[case]
    got = describe(case)
    assert sorted(got["params"]) == sorted(pinned["params"]), case
    assert got["params"] == pinned["params"], case
    assert got["shared"] == pinned["shared"], case


def test_every_registered_family_is_pinned() -> None:
    from bert4torch.models import MODELS

    pinned_models = {model for model, _, _ in CASES.values()}
    classes = {target for name, target in MODELS.items() if name in pinned_models}
    assert classes >= {target for target in MODELS.values() if not target.startswith("t5:")}


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    PINNED.write_text(json.dumps({case: describe(case) for case in CASES}, indent=1, sort_keys=True) + "\n")
    print(f"wrote {PINNED}")
