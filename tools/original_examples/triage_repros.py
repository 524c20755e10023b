"""The smallest repros of the examples' failures that belong to other distributions (see TRIAGE.md).

    hatch run python tools/original_examples/triage_repros.py

Each line says OK or FAIL with the exception; a FAIL is the behaviour the original did not have. The first part
needs nothing; the second builds the checkpoint an example loads with the harness's makers (``checkpoints.py``,
which run the original's convert scripts where the example uses a converted file).
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import checkpoints  # noqa: E402

from bert4torch.models import BERT, build_transformer_model  # noqa: E402

tmp = tempfile.mkdtemp()
root = Path(tmp)

vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "你", "好", "，", "。"]
open(f"{tmp}/vocab.txt", "w").write("\n".join(vocab))

def case(title, fn):
    try:
        fn(); print(f"OK    {title}")
    except Exception as e:
        print(f"FAIL  {title}: {type(e).__name__}: {str(e)[:300]}")

from bert4torch.tokenizers import Tokenizer, load_vocab
def t1():
    token_dict, keep = load_vocab(f"{tmp}/vocab.txt", simplified=True, startswith=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    Tokenizer(token_dict, do_lower_case=True)
case("tokenizers: Tokenizer(load_vocab(..., simplified=True)) (drops [MASK])", t1)

cfg = dict(vocab_size=9, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
           max_position_embeddings=16, type_vocab_size=2, hidden_act="gelu")
def build(extra, **kw):
    p = f"{tmp}/c{len(os.listdir(tmp))}.json"; json.dump({**cfg, **extra}, open(p, "w"))
    return build_transformer_model(p, **kw)
case("models: config key 'directionality' (gpt, CDial-GPT)", lambda: build({"directionality": "bidi"}, model="gpt"))
case("models: config key 'type_vocab_size' (bart, fudanNLP)", lambda: build({}, model="bart", segment_vocab_size=0))
case("models: config key 'net_structure_type' (albert, brightmart)", lambda: build({"net_structure_type": 0, "embedding_size": 4}, model="albert"))
case("models: config key 'max_relative_position' with model='bert' (NEZHA config)", lambda: build({"max_relative_position": 64, "use_relative_position": True}))
case("models: config keys 'output_past', 'summary_last_hidden_dropout_prob' (xlnet, HIT)", lambda: build({"output_past": True, "summary_last_hidden_dropout_prob": 0.1, "attn_type": "bi", "untie_r": True}, model="xlnet", segment_vocab_size=0))
case("models: T5 config without d_kv (uer t5)", lambda: build({"relative_attention_num_buckets": 32}, model="t5.1.0", segment_vocab_size=0))
case("models: is_decoder=True on a BERT (TSDAE)", lambda: build({}, is_decoder=True))
from bert4torch.layers import LayerNorm
case("layers: LayerNorm((1, C, 1, 1), dim_index=1) (CNN_Nested_NER)", lambda: LayerNorm((1, 4, 1, 1), dim_index=1))
def compound():
    from transformers import BertConfig, BertForMaskedLM
    torch.manual_seed(0)
    sd = BertForMaskedLM(BertConfig(vocab_size=9, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, max_position_embeddings=16)).state_dict()
    torch.save(sd, f"{tmp}/bert.bin")
    build({}, checkpoint_path=f"{tmp}/bert.bin", compound_tokens=[[9]])  # PromptBert: a new token '[X]' = len(vocab)
case("models: compound_tokens=[[len(vocab)]] (PromptBert's new '[X]' token)", compound)

# ---- files in the layouts the examples load


def ck(folder): return checkpoints.make(root, folder)

d = ck("gpt2/[gpt2-ml_torch_15g]")
case("models: gpt2_ml file from convert_gpt2__gpt2-ml.py", lambda: build_transformer_model(d / "bert4torch_config.json", d / "bert4torch_pytorch_model.bin", model="gpt2_ml", segment_vocab_size=0))
d2 = ck("deberta/[IDEA-CCNL-torch]--Erlangshen-DeBERTa-v2-320M-Chinese")
case("models: deberta_v2 file from convert_deberta_v2.py", lambda: build_transformer_model(d2 / "config.json", d2 / "bert4torch_pytorch_model.bin", model="deberta_v2", with_mlm="softmax"))
d4 = ck("gau/[sushen-torch]--chinese_GAU-alpha-char_L-24_H-768")
case("models: GAU-alpha file from convert_GAU_alpha.py without with_mlm", lambda: build_transformer_model(d4 / "bert_config.json", d4 / "pytorch_model.bin", model="gau_alpha"))
d5 = ck("bert/[google_tf_base]--chinese_L-12_H-768_A-12")
case("models: hierarchical_position=True, max_position=1024 on a 512-row file", lambda: build_transformer_model(d5 / "bert_config.json", d5 / "pytorch_model.bin", hierarchical_position=True, max_position=1024, with_pool=True))
d6 = ck("roformer/[sushen_torch_base]--roformer_v1_base")
case("models: with_pool=True on a RoFormer file without a pooler", lambda: build_transformer_model(d6 / "config.json", d6 / "pytorch_model.bin", model="roformer", with_pool=True))
class Theseus(BERT):
    def __init__(self, **kw):
        super().__init__(**kw)
        import copy, torch.nn as nn
        self.scc_layer = nn.ModuleList([copy.deepcopy(self.encoderLayer[0])])
case("models: a subclass adding layers (BERT-of-Theseus scc_layer)", lambda: build_transformer_model(d5 / "bert_config.json", d5 / "pytorch_model.bin", model=Theseus))
d7 = ck("t5/[sushen_t5_pegasus_torch_small]--chinese_t5_pegasus_small")
def t5():
    import torch
    m = build_transformer_model(d7 / "config.json", d7 / "pytorch_model.bin", model="mt5.1.1", segment_vocab_size=0)
    out = m.encoder.predict([torch.tensor([[101, 5, 6, 102]])])
    assert isinstance(out, list) and len(out) == 2, f"encoder.predict returned {type(out).__name__}, the original [hidden, attention_mask]"
case("models: encoder.predict([ids]) returns [hidden, mask] (t5_pegasus / bart decoding)", t5)
d8 = ck("gpt2/[cpm_gpt2_torch]--cpm_lm_2.6b")
case("models: CPM file from convert_gpt2__cmp_lm_2.6b.py (prefix gpt2.)", lambda: build_transformer_model(d8 / "bert4torch_config.json", d8 / "bert4torch_pytorch_model.bin", model="gpt2", segment_vocab_size=0))
d9 = ck("t5/[uer_t5_torch_small]--t5-small-chinese-cluecorpussmall")
case("models: keep_tokens= for T5 (uer t5)", lambda: build_transformer_model(d9 / "bert4torch_config.json", d9 / "pytorch_model.bin", model="t5.1.0", segment_vocab_size=0, keep_tokens=list(range(100))))
