"""Regenerate the golden outputs of the decoder families that have no `transformers` class (gpt2_ml, transformer_xl).

For each family: build a tiny model's weights from a fixed seed (our parameter names), compute the logits of fixed
inputs with an INDEPENDENT implementation of the family's equations written below in plain tensor code (no
bert4torch module is used for the numbers), and write to ``tests/assets/models/decoder_<family>/``:

* ``config.json``: the original bert4torch-style config;
* ``model.safetensors``: the weights;
* ``golden.safetensors``: ``token_ids`` and ``logits`` (fp32).

The Transformer-XL reference follows the original code's formulation (distances listed ``k_len-1 .. 0``, then the
pad-and-reshape ``rel_shift``), which is independent of the gather used by ``bert4torch.models.transformer_xl``.
GPT2-ML follows the bert4keras/bert4torch ``GPT2_ML`` block (attention without norm, FFN normalised before and
after). Never edit the outputs by hand; rerun: ``hatch run python tools/models_decoder_goldens.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parents[1] / "tests" / "assets" / "models"
V, D, L, H, FF = 61, 32, 2, 4, 48
DH = D // H


def _rand(g: torch.Generator, *shape: int, std: float = 0.2) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * std


def _ln(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def _gelu(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))


# ------------------------------------------------------------------------------------------------- gpt2_ml
def gpt2_ml_weights(g: torch.Generator) -> dict[str, torch.Tensor]:
    w = {"embeddings.word_embeddings.weight": _rand(g, V, D), "embeddings.position_embeddings.weight": _rand(g, 64, D),
         "embeddings.layerNorm.weight": 1 + _rand(g, D, std=0.1), "embeddings.layerNorm.bias": _rand(g, D, std=0.1)}
    for i in range(L):
        p = f"encoderLayer.{i}."
        for n in "qkvo":
            w[p + f"multiHeadAttention.{n}.weight"] = _rand(g, D, D)
            w[p + f"multiHeadAttention.{n}.bias"] = _rand(g, D, std=0.05)
        for n in ("layerNorm1", "layerNorm2"):
            w[p + f"{n}.weight"] = 1 + _rand(g, D, std=0.1)
            w[p + f"{n}.bias"] = _rand(g, D, std=0.1)
        w[p + "feedForward.intermediateDense.weight"] = _rand(g, FF, D)
        w[p + "feedForward.intermediateDense.bias"] = _rand(g, FF, std=0.05)
        w[p + "feedForward.outputDense.weight"] = _rand(g, D, FF)
        w[p + "feedForward.outputDense.bias"] = _rand(g, D, std=0.05)
    return w


def gpt2_ml_reference(w: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """The GPT2_ML equations, one batch row at a time, attention written as explicit softmax over j <= i."""
    outs = []
    for row in ids:
        t = row.shape[0]
        x = w["embeddings.word_embeddings.weight"][row] + w["embeddings.position_embeddings.weight"][:t]
        x = _ln(x, w["embeddings.layerNorm.weight"], w["embeddings.layerNorm.bias"])
        for i in range(L):
            p = f"encoderLayer.{i}."
            proj = {n: x @ w[p + f"multiHeadAttention.{n}.weight"].T + w[p + f"multiHeadAttention.{n}.bias"] for n in "qkv"}
            heads = []
            for h in range(H):
                sl = slice(h * DH, (h + 1) * DH)
                q, k, v = proj["q"][:, sl], proj["k"][:, sl], proj["v"][:, sl]
                scores = q @ k.T / math.sqrt(DH)
                scores = scores.masked_fill(torch.ones(t, t).triu(1).bool(), float("-inf"))
                heads.append(scores.softmax(-1) @ v)
            attn = torch.cat(heads, -1) @ w[p + "multiHeadAttention.o.weight"].T + w[p + "multiHeadAttention.o.bias"]
            hdd = x + attn
            n1 = _ln(hdd, w[p + "layerNorm1.weight"], w[p + "layerNorm1.bias"])
            ffn = _gelu(n1 @ w[p + "feedForward.intermediateDense.weight"].T + w[p + "feedForward.intermediateDense.bias"])
            ffn = ffn @ w[p + "feedForward.outputDense.weight"].T + w[p + "feedForward.outputDense.bias"]
            x = _ln(hdd + ffn, w[p + "layerNorm2.weight"], w[p + "layerNorm2.bias"])
        outs.append(x @ w["embeddings.word_embeddings.weight"].T)
    return torch.stack(outs)


# ------------------------------------------------------------------------------------------------- transformer_xl
def transformer_xl_weights(g: torch.Generator) -> dict[str, torch.Tensor]:
    w = {"embeddings.word_embeddings.weight": _rand(g, V, D), "dense.bias": _rand(g, V, std=0.05)}
    for i in range(L):
        p = f"encoderLayer.{i}."
        for n in "qkvro":
            w[p + f"multiHeadAttention.{n}.weight"] = _rand(g, D, D)
        w[p + "multiHeadAttention.r_w_bias"] = _rand(g, H, DH, std=0.5)
        w[p + "multiHeadAttention.r_r_bias"] = _rand(g, H, DH, std=0.5)
        w[p + "multiHeadAttention.layerNorm.weight"] = 1 + _rand(g, D, std=0.1)
        w[p + "multiHeadAttention.layerNorm.bias"] = _rand(g, D, std=0.1)
        w[p + "feedForward.intermediateDense.weight"] = _rand(g, FF, D)
        w[p + "feedForward.intermediateDense.bias"] = _rand(g, FF, std=0.05)
        w[p + "feedForward.outputDense.weight"] = _rand(g, D, FF)
        w[p + "feedForward.outputDense.bias"] = _rand(g, D, std=0.05)
        w[p + "feedForward.layerNorm.weight"] = 1 + _rand(g, D, std=0.1)
        w[p + "feedForward.layerNorm.bias"] = _rand(g, D, std=0.1)
    return w


def _rel_shift(x: torch.Tensor) -> torch.Tensor:
    """The original Transformer-XL shift of ``[q, k, b, n]`` scores: pad one zero column, view, drop a row."""
    zero_pad = torch.zeros((x.size(0), 1, *x.size()[2:]), dtype=x.dtype)
    padded = torch.cat([zero_pad, x], dim=1).view(x.size(1) + 1, x.size(0), *x.size()[2:])
    return padded[1:].view_as(x)


def transformer_xl_reference(w: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """Transformer-XL (attn_type 'uni', post-LN, no memory) in the original [len, batch, heads, dim] layout."""
    q_len, bsz = ids.shape[1], ids.shape[0]
    x = w["embeddings.word_embeddings.weight"][ids.T] * math.sqrt(D)  # [len, b, d]
    inv_freq = 1 / (10000 ** (torch.arange(0.0, D, 2.0) / D))
    pos_seq = torch.arange(q_len - 1, -1, -1.0)
    sinusoid = pos_seq[:, None] * inv_freq[None, :]
    pos_emb = torch.cat([sinusoid.sin(), sinusoid.cos()], dim=-1)  # [k_len, d], distances k_len-1 .. 0
    mask = torch.triu(torch.ones(q_len, q_len), diagonal=1).bool()[:, :, None, None]
    for i in range(L):
        p = f"encoderLayer.{i}.multiHeadAttention."
        q = (x @ w[p + "q.weight"].T).view(q_len, bsz, H, DH)
        k = (x @ w[p + "k.weight"].T).view(q_len, bsz, H, DH)
        v = (x @ w[p + "v.weight"].T).view(q_len, bsz, H, DH)
        r = (pos_emb @ w[p + "r.weight"].T).view(q_len, H, DH)
        ac = torch.einsum("ibnd,jbnd->ijbn", q + w[p + "r_w_bias"], k)
        bd = _rel_shift(torch.einsum("ibnd,jnd->ijbn", q + w[p + "r_r_bias"], r))
        score = ((ac + bd) / math.sqrt(DH)).masked_fill(mask, float("-inf"))
        prob = F.softmax(score, dim=1)
        vec = torch.einsum("ijbn,jbnd->ibnd", prob, v).reshape(q_len, bsz, D)
        x = _ln(x + vec @ w[p + "o.weight"].T, w[p + "layerNorm.weight"], w[p + "layerNorm.bias"])
        f = f"encoderLayer.{i}.feedForward."
        hid = torch.relu(x @ w[f + "intermediateDense.weight"].T + w[f + "intermediateDense.bias"])
        x = _ln(x + hid @ w[f + "outputDense.weight"].T + w[f + "outputDense.bias"], w[f + "layerNorm.weight"], w[f + "layerNorm.bias"])
    return (x @ w["embeddings.word_embeddings.weight"].T + w["dense.bias"]).transpose(0, 1)


FAMILIES = {
    "gpt2_ml": (gpt2_ml_weights, gpt2_ml_reference,
                {"vocab_size": V, "hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H,
                 "intermediate_size": FF, "hidden_act": "gelu", "max_position_embeddings": 64}),
    "transformer_xl": (transformer_xl_weights, transformer_xl_reference,
                       {"vocab_size": V, "hidden_size": D, "num_hidden_layers": L, "num_attention_heads": H,
                        "intermediate_size": FF, "hidden_act": "relu", "attn_type": "uni", "untie_r": True,
                        "layer_norm_eps": 1e-5}),
}


def main() -> None:
    for name, (make_weights, reference, config) in FAMILIES.items():
        g = torch.Generator().manual_seed(1234)
        weights = make_weights(g)
        ids = torch.randint(1, V, (2, 11), generator=g)
        with torch.no_grad():
            logits = reference(weights, ids)
        folder = ROOT / f"decoder_{name}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_file({k: v.contiguous() for k, v in weights.items()}, folder / "model.safetensors")
        save_file({"token_ids": ids, "logits": logits.contiguous()}, folder / "golden.safetensors")
        print(f"{name}: logits {tuple(logits.shape)} -> {folder}")


if __name__ == "__main__":
    main()
