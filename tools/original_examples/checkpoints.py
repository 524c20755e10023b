"""Tiny random checkpoints in the layouts the original's examples load, each in the folder the example names.

Where the real checkpoint is a HuggingFace-layout file, the weights come from the matching ``transformers`` class
(a tiny random model, its ``state_dict()`` saved as ``pytorch_model.bin``). Where the example loads a file made by
one of the original's ``examples/convert_script/*.py``, the harness makes a tiny file in that script's *input*
layout and runs the script itself (paths and layer counts substituted, nothing else), so the converted file is
what a user of the original has on disk. Configs are the real ones' keys, shrunk (see :func:`shrink`); where a
convert script carries its config in its closing comment, that config is used.

Each stand-in is registered under its folder below ``Projects/pretrain_ckpt/``; :func:`make` builds one.
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import corpus

# the original's examples: in shared/ beside the repository (B4T_ORIGINAL_EXAMPLES overrides)
SPEC = Path(os.environ.get("B4T_ORIGINAL_EXAMPLES")
            or Path(__file__).resolve().parents[2].parent / "shared" / "spec" / "original-v0.2.5" / "examples")
STUBS = Path(__file__).resolve().parent / "stubs"
H, LAYERS, HEADS, FFN = 32, 2, 4, 64
# config keys that carry a size, and the tiny value each gets
SIZES: dict[str, Any] = {
    "hidden_size": H, "intermediate_size": FFN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
    "attention_head_size": H // HEADS, "attention_key_size": 16, "embedding_size": 16, "pooler_fc_size": H,
    "pooler_num_attention_heads": HEADS, "pooler_size_per_head": H // HEADS, "d_model": H, "d_inner": FFN,
    "n_head": HEADS, "n_layer": LAYERS, "d_head": H // HEADS, "d_ff": FFN, "num_layers": LAYERS,
    "num_decoder_layers": LAYERS, "num_heads": HEADS, "d_kv": H // HEADS, "encoder_layers": LAYERS,
    "decoder_layers": LAYERS, "encoder_attention_heads": HEADS, "decoder_attention_heads": HEADS,
    "encoder_ffn_dim": FFN, "decoder_ffn_dim": FFN, "n_embd": H, "n_positions": 512, "n_ctx": 512,
}

MAKERS: dict[str, Callable[[Path], None]] = {}


def standin(*folders: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    """Register a maker for the checkpoint folder(s) ``Projects/pretrain_ckpt/<folder>``."""

    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        for folder in folders:
            MAKERS[folder] = fn
        return fn

    return register


def make(root: Path, folder: str) -> Path:
    """Build the stand-in ``folder`` under ``root/Projects/pretrain_ckpt`` (once) and return its path."""
    path = root / "Projects" / "pretrain_ckpt" / folder
    if not (path / ".done").exists():
        path.mkdir(parents=True, exist_ok=True)
        MAKERS[folder](path)
        (path / ".done").touch()
    return path


# ---------------------------------------------------------------------------------------------------- helpers


def shrink(config: dict[str, Any], vocab_size: int | None = None, **overrides: Any) -> dict[str, Any]:
    """The config with every size key made tiny, ``vocab_size`` set, and ``overrides`` applied."""
    out = {k: (SIZES[k] if k in SIZES and isinstance(v, int) else v) for k, v in config.items()}
    if vocab_size is not None:
        out["vocab_size"] = vocab_size
    out.update(overrides)
    return out


def write_json(path: Path, obj: dict[str, Any]) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False), encoding="utf-8")


def script_config(script: str, index: int = 0) -> dict[str, Any]:
    """The ``index``-th JSON config in a convert script's closing comment."""
    text = (SPEC / "convert_script" / script).read_text(encoding="utf-8")
    found = []
    decoder = json.JSONDecoder()
    for block in re.findall(r"'''(.*?)'''", text, re.S):
        pos = block.find("{")
        while pos >= 0:
            obj, end = decoder.raw_decode(block, pos)
            found.append(obj)
            pos = block.find("{", end)
    return found[index]


def hf_state(model_cls: str, config_cls: str, **config: Any) -> dict[str, Any]:
    """A tiny random ``transformers`` model's state dict (seeded), tensors made independent and contiguous."""
    import torch
    import transformers

    torch.manual_seed(0)
    model = getattr(transformers, model_cls)(getattr(transformers, config_cls)(**config))
    shared: dict[int, Any] = {}
    out = {}
    for k, v in model.state_dict().items():
        # keep tied parameters tied, as in the real files
        out[k] = shared.setdefault(v.data_ptr(), v.detach().clone().contiguous())
    return out


def save(path: Path, state: dict[str, Any]) -> None:
    import torch

    torch.save(state, path)


def run_convert(script: str, root: Path, extra: list[tuple[str, str]] = ()) -> None:
    """Run one of the original's convert scripts on the stand-in input: paths under ``root``, sizes tiny."""
    text = (SPEC / "convert_script" / script).read_text(encoding="utf-8")
    for pattern, repl in [*extra, (r"num_hidden_layers = \d+", f"num_hidden_layers = {LAYERS}"),
                          (r"range\(\d+\)", f"range({LAYERS})")]:  # the script's own choices first
        text = re.sub(pattern, repl, text)
    text = re.sub(r"(['\"])[A-Z]:/Projects/", lambda m: f"{m.group(1)}{root}/Projects/", text)
    target = root / "convert_scripts" / script
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    proc = subprocess.run([sys.executable, str(target)], capture_output=True, text=True, cwd=target.parent,
                          env={**_env(), "PYTHONPATH": str(STUBS)}, timeout=300)
    if proc.returncode:
        raise RuntimeError(f"{script} failed:\n{proc.stderr[-2000:]}")


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


def vocab(path: Path) -> int:
    return corpus.write_vocab(path / "vocab.txt")


def v_size() -> int:
    return len(corpus.bert_vocab())


def to_tf(state: dict[str, Any], renames: list[tuple[str, str]]) -> dict[str, Any]:
    """HF BERT-layout names to TF ones (``a.b.weight`` -> ``a/b/kernel``, transposed for 2-D linear weights)."""
    out = {}
    for k, v in state.items():
        name = k
        for a, b in renames:
            name = re.sub(a, b, name)
        linear = name.endswith(".weight") and v.dim() == 2 and "embeddings" not in name
        name = re.sub(r"LayerNorm\.weight$", "LayerNorm.gamma", name)
        name = re.sub(r"LayerNorm\.bias$", "LayerNorm.beta", name)
        name = re.sub(r"\.weight$", ".kernel" if linear else "", name)
        out[name.replace(".", "/")] = v.T.contiguous() if linear else v
    return out


# ---------------------------------------------------------------------------------------------------- BERT family

@functools.cache
def bert_config() -> dict[str, Any]:
    """The Google/HF bert-base-chinese config (from ``convert_bert-base-chinese.py``)."""
    return script_config("convert_bert-base-chinese.py")


def _bert_state(**kw: Any) -> dict[str, Any]:
    cfg = shrink(bert_config(), v_size(), **kw)
    cfg = {k: v for k, v in cfg.items() if k not in ("architectures", "directionality") and not k.startswith("pooler")}
    return hf_state("BertForPreTraining", "BertConfig", **cfg)


@standin("bert/[google_tf_base]--chinese_L-12_H-768_A-12")
def google_bert(path: Path) -> None:
    """Google's TF checkpoint converted by ``transformers`` (BertForPreTraining keys), with ``bert_config.json``."""
    vocab(path)
    config = shrink(bert_config(), v_size())
    for key in ("architectures", "layer_norm_eps", "model_type", "pad_token_id"):  # not in Google's file
        config.pop(key)
    write_json(path / "bert_config.json", config)
    # the HF config transformers' converter writes beside the weights (transformers loads the folder)
    write_json(path / "config.json", shrink(bert_config(), v_size()))
    save(path / "pytorch_model.bin", _bert_state())


@standin(
    "bert/[hit_torch_base]--chinese-bert-wwm-ext",
    "robert/[hit_torch_base]--chinese-roberta-wwm-ext-base",
    "simbert/[sushen_torch_base]--simbert_chinese_base",
)
def hf_bert(path: Path) -> None:
    """An HF-layout BERT (HIT's wwm releases, SimBERT) with its HF ``config.json``."""
    vocab(path)
    write_json(path / "config.json", shrink(bert_config(), v_size(), output_past=True))
    save(path / "pytorch_model.bin", _bert_state())


@standin("bert/[huggingface_torch_base]--bert-base-chinese")
def bert_base_chinese(path: Path) -> None:
    """HF ``bert-base-chinese`` (LayerNorm stored as gamma/beta), then ``convert_bert-base-chinese.py``."""
    vocab(path)
    write_json(path / "config.json", shrink(bert_config(), v_size()))
    state = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
             for k, v in _bert_state().items()}
    save(path / "pytorch_model.bin", state)
    run_convert("convert_bert-base-chinese.py", _root(path))




def _nezha_state() -> dict[str, Any]:
    """NEZHA's BERT-layout file: no absolute position embeddings (positions are relative)."""
    return {k: v for k, v in _bert_state().items() if "position_embeddings" not in k}


@standin(
    "nezha/[huawei_noah_torch_base]--nezha-cn-base",
    "bert/[huawei_noah_tf_base]--chinese_nezha_gpt_L-12_H-768_A-12",
)
def huawei_nezha(path: Path) -> None:
    vocab(path)
    write_json(path / "config.json", shrink(script_config("convert_nezha_gpt_dialog.py"), v_size()))
    save(path / "pytorch_model.bin", _nezha_state())


@standin("nezha/[sushen_tf_base]--nezha_gpt_dialog")
def nezha_gpt_dialog(path: Path) -> None:
    """A TF checkpoint (``model.ckpt``) read by ``convert_nezha_gpt_dialog.py`` into ``pytorch_model.bin``."""
    vocab(path)
    write_json(path / "config.json", shrink(script_config("convert_nezha_gpt_dialog.py"), v_size()))
    state = {k: v for k, v in _nezha_state().items() if not k.startswith(("cls.seq_relationship", "bert.pooler"))}
    state.pop("cls.predictions.decoder.weight")
    state.pop("cls.predictions.decoder.bias", None)
    tf = to_tf(state, [(r"layer\.(\d+)", r"layer_\1"), (r"cls\.predictions\.bias", "cls.predictions.output_bias")])
    save(path / "model.ckpt.standin.pt", tf)
    run_convert("convert_nezha_gpt_dialog.py", _root(path))


def _root(path: Path) -> Path:
    return next(p for p in path.parents if p.name == "Projects").parent


# ---------------------------------------------------------------------------------------------------- RoFormer

def roformer_config() -> dict[str, Any]:
    """Su's bert4keras-style RoFormer configs: BERT's keys, 1536 positions, no HF extras."""
    drop = ("architectures", "directionality", "model_type", "pad_token_id")
    config = {k: v for k, v in bert_config().items() if k not in drop and not k.startswith("pooler")}
    return config | {"max_position_embeddings": 1536}


def _roformer_state(pooler: bool) -> dict[str, Any]:
    cfg = {k: v for k, v in shrink(roformer_config(), v_size()).items()
           if k not in ("architectures", "directionality") and not k.startswith("pooler")}
    state = hf_state("RoFormerForMaskedLM", "RoFormerConfig", **cfg)
    if pooler:  # roformer-sim was trained with a pooler (SimBERT's similarity head)
        import torch

        torch.manual_seed(1)
        state["roformer.pooler.dense.weight"] = torch.randn(H, H) * 0.02
        state["roformer.pooler.dense.bias"] = torch.zeros(H)
    return state


@standin("roformer/[sushen_torch_base]--roformer_v1_base")
def roformer_v1(path: Path) -> None:
    """``RoFormerForMaskedLM`` keys: no pooler in the file."""
    vocab(path)
    write_json(path / "config.json", shrink(roformer_config(), v_size()))
    save(path / "pytorch_model.bin", _roformer_state(pooler=False))


@standin(
    "simbert/[sushen_torch_base]--roformer_chinese_sim_char_base",
    "simbert/[sushen_torch_base]--roformer_chinese_sim_char_ft_base",
)
def roformer_sim(path: Path) -> None:
    vocab(path)
    write_json(path / "config.json", shrink(roformer_config(), v_size()))
    save(path / "pytorch_model.bin", _roformer_state(pooler=True))


@standin("roformer/[sushen_torch_base]--roformer_v2_char_base")
def roformer_v2(path: Path) -> None:
    """RoFormer-V2 has no biases and no LayerNorm weights: the RoFormer layout without them."""
    vocab(path)
    write_json(path / "config.json", shrink(roformer_config(), v_size()))
    keep = re.compile(r"(word_embeddings|token_type_embeddings|query|key|value|dense)\.weight$")
    state = {k: v for k, v in _roformer_state(pooler=False).items()
             if keep.search(k) and "transform" not in k and "LayerNorm" not in k}
    save(path / "pytorch_model.bin", state)


# ---------------------------------------------------------------------------------------------------- others, HF layout


@standin("electra/[hit_torch_base]--chinese-electra-base-discriminator")
def electra(path: Path) -> None:
    vocab(path)
    config = shrink({**bert_config(), "model_type": "electra", "architectures": ["ElectraForPreTraining"],
                     "embedding_size": 768}, v_size())
    write_json(path / "config.json", config)
    cfg = {k: v for k, v in config.items() if k not in ("architectures", "directionality", "model_type")
           and not k.startswith("pooler")}
    save(path / "pytorch_model.bin", hf_state("ElectraForPreTraining", "ElectraConfig", **cfg))


@standin("albert/[brightmart_tf_small]--albert_small_zh_google")
def albert_small(path: Path) -> None:
    """brightmart's albert_small_zh_google, converted by ``transformers`` (AlbertForPreTraining keys)."""
    vocab(path)
    config = shrink({"attention_probs_dropout_prob": 0.0, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
                     "embedding_size": 128, "hidden_size": 384, "initializer_range": 0.02, "intermediate_size": 1536,
                     "max_position_embeddings": 512, "num_attention_heads": 12, "num_hidden_layers": 6,
                     "num_hidden_groups": 1, "net_structure_type": 0, "gap_size": 0, "num_memory_blocks": 0,
                     "inner_group_num": 1, "down_scale_factor": 1, "type_vocab_size": 2}, v_size())
    write_json(path / "albert_config_small_google.json", config)
    cfg = {k: config[k] for k in ("embedding_size", "hidden_size", "intermediate_size", "num_attention_heads",
                                   "num_hidden_layers", "vocab_size", "max_position_embeddings", "type_vocab_size")}
    save(path / "pytorch_model.bin", hf_state("AlbertForPreTraining", "AlbertConfig", **cfg))


@standin("ernie/[baidu_torch_base]--ernie-1-base-zh", "ernie/[baidu_torch_base]--ernie-3-base-zh")
def ernie(path: Path) -> None:
    vocab(path)
    config = shrink({"attention_probs_dropout_prob": 0.1, "hidden_act": "relu", "hidden_dropout_prob": 0.1,
                     "hidden_size": 768, "initializer_range": 0.02, "max_position_embeddings": 513,
                     "num_attention_heads": 12, "num_hidden_layers": 12, "type_vocab_size": 2, "pad_token_id": 0,
                     "model_type": "ernie", "architectures": ["ErnieForMaskedLM"], "intermediate_size": 3072,
                     "layer_norm_eps": 1e-05, "use_task_id": False}, v_size())
    write_json(path / "config.json", config)
    cfg = {k: v for k, v in config.items() if k not in ("architectures",)}
    save(path / "pytorch_model.bin", hf_state("ErnieForMaskedLM", "ErnieConfig", **cfg))


@standin(
    "deberta/[IDEA-CCNL-torch]--Erlangshen-DeBERTa-v2-97M-Chinese",
    "deberta/[IDEA-CCNL-torch]--Erlangshen-DeBERTa-v2-320M-Chinese",
    "deberta/[IDEA-CCNL-torch]--Erlangshen-DeBERTa-v2-710M-Chinese",
)
def deberta_v2(path: Path) -> None:
    """IDEA's HF DebertaV2ForMaskedLM, then ``convert_deberta_v2.py`` (``query_proj`` -> ``query`` ...)."""
    vocab(path)
    config = shrink({"attention_head_size": 64, "attention_probs_dropout_prob": 0.1, "conv_act": "gelu",
                     "conv_kernel_size": 3, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 1024,
                     "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-07,
                     "max_position_embeddings": 512, "max_relative_positions": -1, "model_type": "deberta-v2",
                     "norm_rel_ebd": "layer_norm", "num_attention_heads": 16, "num_hidden_layers": 24,
                     "pad_token_id": 0, "pooler_dropout": 0, "pooler_hidden_act": "gelu", "pooler_hidden_size": 1024,
                     "pos_att_type": ["p2c", "c2p"], "position_biased_input": False, "position_buckets": 256,
                     "relative_attention": True, "share_att_key": True, "type_vocab_size": 0}, v_size(),
                    pooler_hidden_size=H)
    write_json(path / "config.json", config)
    cfg = {k: v for k, v in config.items() if k not in ("attention_head_size",)}
    save(path / "pytorch_model.bin", hf_state("DebertaV2ForMaskedLM", "DebertaV2Config", **cfg))
    run_convert("convert_deberta_v2.py", _root(path), [(r"(?m)^root_path = .*320M.*$", f"root_path = '{path}'")])


XLNET_CONFIG = {
    "architectures": ["XLNetLMHeadModel"], "attn_type": "bi", "bi_data": False, "bos_token_id": 1, "clamp_len": -1,
    "d_head": 64, "d_inner": 3072, "d_model": 768, "dropout": 0.1, "end_n_top": 5, "eos_token_id": 2,
    "ff_activation": "relu", "initializer_range": 0.02, "layer_norm_eps": 1e-12, "mem_len": None,
    "model_type": "xlnet", "n_head": 12, "n_layer": 12, "output_past": True, "pad_token_id": 5, "reuse_len": None,
    "same_length": False, "start_n_top": 5, "summary_activation": "tanh", "summary_last_hidden_dropout_prob": 0.1,
    "summary_type": "last", "summary_use_proj": True, "untie_r": True, "vocab_size": 32000,
}


@standin("xlnet/[hit_torch_base]--chinese-xlnet-base")
def xlnet(path: Path) -> None:
    """HIT's chinese-xlnet-base: an HF folder (``config.json``, ``spiece.model``) plus ``bert4torch_config.json``."""
    n = corpus.train_sentencepiece(path / "spiece", control_symbols="<cls>,<sep>,<mask>,<eod>",
                                   user_defined_symbols="<eop>", pad_id=5, unk_id=0, bos_id=1, eos_id=2)
    hf = shrink(XLNET_CONFIG, n)
    write_json(path / "config.json", hf)
    b4t = {**hf, "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
           "intermediate_size": FFN, "hidden_act": "relu", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "segment_vocab_size": 0}
    write_json(path / "bert4torch_config.json", b4t)
    cfg = {k: v for k, v in hf.items() if k not in ("architectures",)}
    save(path / "pytorch_model.bin", hf_state("XLNetLMHeadModel", "XLNetConfig", **cfg))
    (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "XLNetTokenizer"}))


# ---------------------------------------------------------------------------------------------------- seq2seq


@standin("bart/[FudanNLP_torch_base]")
def fudan_bart(path: Path) -> None:
    """fastNLP's bart-base-chinese (HF BART, 514 position rows), then ``convert_bart_fudanNLP.py``."""
    vocab(path)
    config = shrink(script_config("convert_bart_fudanNLP.py"), v_size())
    write_json(path / "bert4torch_config.json", config)
    hf = dict(vocab_size=v_size(), d_model=H, encoder_layers=LAYERS, decoder_layers=LAYERS,
              encoder_attention_heads=HEADS, decoder_attention_heads=HEADS, encoder_ffn_dim=FFN, decoder_ffn_dim=FFN,
              max_position_embeddings=512, pad_token_id=0, bos_token_id=101, eos_token_id=102,
              decoder_start_token_id=102, forced_eos_token_id=102)
    write_json(path / "config.json", {"model_type": "bart", **hf})
    save(path / "pytorch_model.bin", hf_state("BartForConditionalGeneration", "BartConfig", **hf))
    run_convert("convert_bart_fudanNLP.py", _root(path))




def _t5_tf(state: dict[str, Any]) -> dict[str, Any]:
    """HF T5 names to the TF names ``convert_t5_pegasus.py`` reads (kernels ``[in, out]``)."""
    out = {}
    for k, v in state.items():
        m = re.match(r"(encoder|decoder)\.block\.(\d+)\.layer\.(\d+)\.(.*)\.weight$", k)
        if m:
            part, block, layer, rest = m.groups()
            rest = {"layer_norm": "rms_norm/scale"}.get(rest, rest.replace(".", "/"))
            if "DenseReluDense" in rest:
                rest += "/kernel"
            if rest.endswith("relative_attention_bias"):
                out[f"{part}/block_{int(block):03d}/layer_{int(layer):03d}/{rest}"] = v.T.contiguous()
                continue
            name = f"{part}/block_{int(block):03d}/layer_{int(layer):03d}/{rest}"
            out[name] = v.T.contiguous() if v.dim() == 2 else v
        elif k == "shared.weight":
            out["shared/embedding"] = v
        elif k.endswith("final_layer_norm.weight"):
            out[k.split(".")[0] + "/rms_norm/scale"] = v
        elif k == "lm_head.weight":
            out["decoder/logits/kernel"] = v.T.contiguous()
    return out


@standin(
    "t5/[sushen_t5_pegasus_torch_small]--chinese_t5_pegasus_small",
    "t5/[sushen_t5_pegasus_torch_base]--chinese_t5_pegasus_base",
)
def t5_pegasus(path: Path) -> None:
    """Su's TF t5_pegasus checkpoint (mT5 v1.1 layout) through ``convert_t5_pegasus.py``."""
    size = "small" if "small" in path.name else "base"
    tf_dir = path.parent / f"[sushen_t5_pegasus_tf_{size}]--chinese_t5_pegasus_{size}"
    tf_dir.mkdir(parents=True, exist_ok=True)
    config = shrink(script_config("convert_t5_pegasus.py", 1), v_size())
    for d in (path, tf_dir):
        vocab(d)
        write_json(d / "config.json", config)
    hf = dict(vocab_size=v_size(), d_model=H, d_kv=H // HEADS, d_ff=FFN, num_layers=LAYERS, num_heads=HEADS,
              relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
              decoder_start_token_id=101)
    save(tf_dir / "model.ckpt.standin.pt", _t5_tf(hf_state("MT5ForConditionalGeneration", "MT5Config", **hf)))
    extra = [(r"tf_dir = 'F:/Projects/pretrain_ckpt/t5/\[sushen_t5_pegasus_tf_small\]--chinese_t5_pegasus_small/'",
              f"tf_dir = '{tf_dir}/'"),
             (r"torch_path = 'F:/Projects/pretrain_ckpt/t5/\[sushen_t5_pegasus_torch_small\][^']*'",
              f"torch_path = '{path}/pytorch_model.bin'")]
    run_convert("convert_t5_pegasus.py", _root(path), extra)


UER_T5_CONFIG = {"attention_probs_dropout_prob": 0.1, "hidden_act": "relu", "hidden_dropout_prob": 0.1,
                 "hidden_size": 512, "initializer_range": 0.02, "intermediate_size": 2048,
                 "max_position_embeddings": 512,
                 "num_attention_heads": 8, "num_hidden_layers": 6, "type_vocab_size": 2, "vocab_size": 21228,
                 "relative_attention_num_buckets": 32, "attention_scale": False, "is_dropout": True}


@standin(
    "t5/[uer_t5_torch_small]--t5-small-chinese-cluecorpussmall",
    "t5/[uer_t5_torch_base]--t5-base-chinese-cluecorpussmall",
)
def uer_t5(path: Path) -> None:
    """UER's HF T5 (v1.0: one ``wi``, tied ``lm_head``) with a bert4torch config that has no ``d_kv``."""
    vocab(path)
    write_json(path / "bert4torch_config.json", shrink(UER_T5_CONFIG, v_size()))
    hf = dict(vocab_size=v_size(), d_model=H, d_kv=H // HEADS, d_ff=FFN, num_layers=LAYERS, num_heads=HEADS,
              relative_attention_num_buckets=32, feed_forward_proj="relu", decoder_start_token_id=101)
    save(path / "pytorch_model.bin", hf_state("T5ForConditionalGeneration", "T5Config", **hf))


MT5_CONFIG = {"hidden_act": "gelu", "hidden_dropout_prob": 0.1, "hidden_size": 768, "initializer_range": 0.02,
              "intermediate_size": 2048, "num_attention_heads": 12, "attention_head_size": 64,
              "num_hidden_layers": 12, "vocab_size": 250112, "relative_attention_num_buckets": 32,
              "attention_scale": False, "is_dropout": True}


@standin("t5/[google_mt5_torch_base]", "t5/[google_mt5_bert4keras]")
def mt5(path: Path) -> None:
    """google/mt5-base (HF, gated) and bert4keras' Chinese sentencepiece with its ``keep_tokens`` list."""
    parent = path.parent
    torch_dir, keras_dir = parent / "[google_mt5_torch_base]", parent / "[google_mt5_bert4keras]"
    if (torch_dir / "pytorch_model.bin").exists():
        return
    torch_dir.mkdir(parents=True, exist_ok=True)
    keras_dir.mkdir(parents=True, exist_ok=True)
    n = corpus.train_sentencepiece(keras_dir / "sentencepiece_cn", pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
    big = n + 200  # the multilingual vocabulary the kept Chinese pieces are rows of
    keep = [0, 1, 2, *range(200 + 3, 200 + n)]
    (keras_dir / "sentencepiece_cn_keep_tokens.json").write_text(json.dumps(keep))
    write_json(torch_dir / "bert4torch_config.json", shrink(MT5_CONFIG, big))
    hf = dict(vocab_size=big, d_model=H, d_kv=H // HEADS, d_ff=FFN, num_layers=LAYERS, num_heads=HEADS,
              relative_attention_num_buckets=32, feed_forward_proj="gated-gelu", tie_word_embeddings=False,
              decoder_start_token_id=0)
    save(torch_dir / "pytorch_model.bin", hf_state("MT5ForConditionalGeneration", "MT5Config", **hf))
    for d in (torch_dir, keras_dir):
        (d / ".done").touch()


# ---------------------------------------------------------------------------------------------------- decoders


@standin("gpt/[thu-coai_torch_base]--CDial-GPT-LCCC-base")
def cdial_gpt(path: Path) -> None:
    """CDial-GPT (HF OpenAIGPT keys, [CLS] at row 0 and [PAD] at row 1), then its convert script."""
    tokens = list(corpus.bert_vocab())
    tokens[1:5] = ["[speaker1]", "[speaker2]", "[unused3]", "[unused4]"]
    corpus.write_vocab(path / "bert4torch_vocab.txt", tokens)
    config = shrink(script_config("convert_gpt__CDial-GPT-LCCC.py"), len(tokens))
    config["intermediate_size"] = 4 * H  # OpenAIGPT's MLP is 4 x n_embd, as the real config's 3072 = 4 x 768
    write_json(path / "bert4torch_config.json", config)
    hf = dict(vocab_size=len(tokens), n_positions=513, n_embd=H, n_layer=LAYERS, n_head=HEADS)
    state = hf_state("OpenAIGPTLMHeadModel", "OpenAIGPTConfig", **hf)
    save(path / "pytorch_model.bin", state)
    run_convert("convert_gpt__CDial-GPT-LCCC.py", _root(path))


@standin("gpt2/[cpm_gpt2_torch]--cpm_lm_2.6b")
def cpm_lm(path: Path) -> None:
    """TsinghuaAI's CPM-Generate (HF GPT2 keys), then ``convert_gpt2__cmp_lm_2.6b.py``."""
    n = corpus.train_sentencepiece(path / "chinese_vocab", user_defined_symbols="<eod>,<pad>")
    write_json(path / "bert4torch_config.json", shrink(script_config("convert_gpt2__cmp_lm_2.6b.py"), n))
    hf = dict(vocab_size=n, n_positions=1024, n_embd=H, n_layer=LAYERS, n_head=HEADS, n_inner=FFN)  # as the config
    save(path / "pytorch_model.bin", hf_state("GPT2LMHeadModel", "GPT2Config", **hf))
    run_convert("convert_gpt2__cmp_lm_2.6b.py", _root(path))


@standin("gpt2/[gpt2-ml_torch_15g]")
def gpt2_ml(path: Path) -> None:
    """gpt2-ml's torch port (``wte``, ``wpe``, ``emb_norm``, ``h.N.*``), then ``convert_gpt2__gpt2-ml.py``."""
    import torch

    vocab(path)
    write_json(path / "bert4torch_config.json", shrink(script_config("convert_gpt2__gpt2-ml.py"), v_size()))
    hf = dict(vocab_size=v_size(), n_positions=1024, n_embd=H, n_layer=LAYERS, n_head=HEADS, n_inner=FFN)
    state = {k: v for k, v in hf_state("GPT2Model", "GPT2Config", **hf).items() if not k.startswith("ln_f")}
    state["emb_norm.weight"] = torch.ones(H)
    state["emb_norm.bias"] = torch.zeros(H)
    save(path / "pytorch_model.bin", state)
    run_convert("convert_gpt2__gpt2-ml.py", _root(path))


@standin("gau/[sushen-torch]--chinese_GAU-alpha-char_L-24_H-768")
def gau_alpha(path: Path) -> None:
    """Su's TF GAU-alpha checkpoint through ``convert_GAU_alpha.py``."""
    import torch

    vocab(path)
    config = shrink(script_config("convert_GAU_alpha.py"), v_size(), num_attention_heads=1)
    write_json(path / "bert_config.json", config)
    tf_dir = path.parent / "[sushen-tf]--chinese_GAU-alpha-char_L-24_H-768"
    tf_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    ffn, key = config["intermediate_size"], config["attention_key_size"]
    store = {"bert/embeddings/word_embeddings": torch.randn(v_size(), H) * 0.02,
             "bert/embeddings/token_type_embeddings": torch.randn(2, H) * 0.02}
    for i in range(LAYERS):
        p = f"GAU_alpha/encoder/layer_{i}/gau"
        store[f"{p}/i_dense/kernel"] = torch.randn(H, 2 * ffn + key) * 0.02
        store[f"{p}/o_dense/kernel"] = torch.randn(ffn, H) * 0.02
        store[f"{p}/q_scaleoffset/gamma"] = torch.ones(key)
        store[f"{p}/k_scaleoffset/gamma"] = torch.ones(key)
    save(tf_dir / "bert_model.ckpt.standin.pt", store)
    run_convert("convert_GAU_alpha.py", _root(path))


@standin("uie/uie_base_pytorch")
def uie(path: Path) -> None:
    """The folder ``uie/convert.py`` writes: an HF BERT file plus the pointer heads, and its config."""
    import torch

    vocab(path)
    write_json(path / "config.json", shrink(bert_config(), v_size()))
    state = _bert_state()
    torch.manual_seed(2)
    for head in ("linear_start", "linear_end"):
        state[f"{head}.weight"] = torch.randn(1, H) * 0.02
        state[f"{head}.bias"] = torch.zeros(1)
    save(path / "pytorch_model.bin", state)
