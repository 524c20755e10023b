"""The smallest repros of the examples' failures that belong to other distributions (see TRIAGE.md).

    hatch run python tools/original_examples/triage_repros.py

Each line says OK or FAIL with the exception; a FAIL is a behaviour the original did not have. The first cases
need nothing; the others build the checkpoint an example loads with the harness's makers (``checkpoints.py``,
which run the original's convert script where the example loads a converted file).
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkpoints  # noqa: E402

from bert4torch.layers import LayerNorm  # noqa: E402
from bert4torch.models import BERT, build_transformer_model  # noqa: E402
from bert4torch.tokenizers import Tokenizer, load_vocab  # noqa: E402

ROOT = Path(tempfile.mkdtemp())
TINY = dict(vocab_size=9, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
            max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu")


def case(title: str, fn: Callable[[], Any]) -> None:
    try:
        fn()
        print(f"OK    {title}")
    except Exception as e:  # the point is to show it
        print(f"FAIL  {title}: {type(e).__name__}: {str(e)[:300]}")


def build(extra: dict[str, Any], **kw: Any) -> nn.Module:
    """A tiny model from a config file holding TINY plus ``extra``."""
    path = ROOT / f"config{len(list(ROOT.glob('config*')))}.json"
    path.write_text(json.dumps({**TINY, **extra}))
    return build_transformer_model(path, **kw)


def simplified_vocab() -> None:
    (ROOT / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "你", "好", "。"]))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    token_dict, _ = load_vocab(str(ROOT / "vocab.txt"), simplified=True, startswith=specials)
    Tokenizer(token_dict, do_lower_case=True)


def compound_new_id() -> None:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(0)
    hf = {k: TINY[k] for k in TINY if k != "hidden_act"}
    torch.save(BertForMaskedLM(BertConfig(**hf)).state_dict(), ROOT / "bert.bin")
    build({}, checkpoint_path=ROOT / "bert.bin", compound_tokens=[[TINY["vocab_size"]]])  # PromptBert's '[X]'


class Theseus(BERT):
    """BERT-of-Theseus: a subclass that adds layers of its own."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.scc_layer = nn.ModuleList([copy.deepcopy(self.encoderLayer[0])])


def stand_in(folder: str) -> Path:
    return checkpoints.make(ROOT, folder)


def t5_encoder_predict() -> None:
    d = stand_in("t5/[sushen_t5_pegasus_torch_small]--chinese_t5_pegasus_small")
    model = build_transformer_model(d / "config.json", d / "pytorch_model.bin", model="mt5.1.1", segment_vocab_size=0)
    out = model.encoder.predict([torch.tensor([[101, 5, 6, 102]])])
    assert isinstance(out, list) and len(out) == 2, f"returned {type(out).__name__}, the original [hidden, mask]"


def from_folder(folder: str, config: str, weights: str, **kw: Any) -> Callable[[], Any]:
    def load() -> nn.Module:
        d = stand_in(folder)
        return build_transformer_model(d / config, d / weights, **kw)

    return load


GOOGLE = "bert/[google_tf_base]--chinese_L-12_H-768_A-12"
CASES: list[tuple[str, Callable[[], Any]]] = [
    ("tokenizers: Tokenizer(load_vocab(..., simplified=True)), which drops [MASK]", simplified_vocab),
    ("models: config key 'directionality' (gpt, CDial-GPT)", lambda: build({"directionality": "bidi"}, model="gpt")),
    ("models: config key 'type_vocab_size' (bart, fudanNLP)", lambda: build({}, model="bart", segment_vocab_size=0)),
    ("models: config key 'net_structure_type' (albert, brightmart)",
     lambda: build({"net_structure_type": 0, "embedding_size": 4}, model="albert")),
    ("models: config key 'max_relative_position' with model='bert' (a NEZHA config)",
     lambda: build({"max_relative_position": 64, "use_relative_position": True})),
    ("models: config keys 'output_past', 'summary_last_hidden_dropout_prob' (xlnet, HIT)",
     lambda: build({"output_past": True, "summary_last_hidden_dropout_prob": 0.1, "attn_type": "bi", "untie_r": True},
                   model="xlnet", segment_vocab_size=0)),
    ("models: T5 config without d_kv (uer t5)",
     lambda: build({"relative_attention_num_buckets": 32}, model="t5.1.0", segment_vocab_size=0)),
    ("models: is_decoder=True on a BERT (TSDAE)", lambda: build({}, is_decoder=True)),
    ("layers: LayerNorm((1, C, 1, 1), dim_index=1) (CNN_Nested_NER)", lambda: LayerNorm((1, 4, 1, 1), dim_index=1)),
    ("models: compound_tokens=[[len(vocab)]] (PromptBert's new '[X]' token)", compound_new_id),
    ("models: gpt2_ml file from convert_gpt2__gpt2-ml.py",
     from_folder("gpt2/[gpt2-ml_torch_15g]", "bert4torch_config.json", "bert4torch_pytorch_model.bin",
                 model="gpt2_ml", segment_vocab_size=0)),
    ("models: CPM file from convert_gpt2__cmp_lm_2.6b.py (prefix gpt2.)",
     from_folder("gpt2/[cpm_gpt2_torch]--cpm_lm_2.6b", "bert4torch_config.json", "bert4torch_pytorch_model.bin",
                 model="gpt2", segment_vocab_size=0)),
    ("models: deberta_v2 file from convert_deberta_v2.py",
     from_folder("deberta/[IDEA-CCNL-torch]--Erlangshen-DeBERTa-v2-320M-Chinese", "config.json",
                 "bert4torch_pytorch_model.bin", model="deberta_v2", with_mlm="softmax")),
    ("models: GAU-alpha file from convert_GAU_alpha.py without with_mlm",
     from_folder("gau/[sushen-torch]--chinese_GAU-alpha-char_L-24_H-768", "bert_config.json", "pytorch_model.bin",
                 model="gau_alpha")),
    ("models: hierarchical_position=True, max_position=1024 on a 512-row file",
     from_folder(GOOGLE, "bert_config.json", "pytorch_model.bin", hierarchical_position=True, max_position=1024)),
    ("models: with_pool=True on a RoFormer file without a pooler",
     from_folder("roformer/[sushen_torch_base]--roformer_v1_base", "config.json", "pytorch_model.bin",
                 model="roformer", with_pool=True)),
    ("models: a subclass adding layers (BERT-of-Theseus scc_layer)",
     from_folder(GOOGLE, "bert_config.json", "pytorch_model.bin", model=Theseus)),
    ("models: keep_tokens= for T5 (uer t5)",
     from_folder("t5/[uer_t5_torch_small]--t5-small-chinese-cluecorpussmall", "bert4torch_config.json",
                 "pytorch_model.bin", model="t5.1.0", segment_vocab_size=0, keep_tokens=list(range(100)))),
    ("models: encoder.predict([ids]) returns [hidden, mask] (t5_pegasus / bart decoding)", t5_encoder_predict),
]

if __name__ == "__main__":
    for title, fn in CASES:
        case(title, fn)
