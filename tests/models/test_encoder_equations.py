"""Families without a transformers class: their defining equations, checked by independent re-implementations.

NEZHA (Wei et al. 2019, §3.2): functional relative positions, no absolute position embedding.
RoFormerV2 (Su 2022): RoPE, no biases anywhere, parameter-free RMS norm, post-norm, relu FFN.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from b4t_testing.models import random_inputs
from bert4torch.models import build_transformer_model

TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37, max_position=64)


def _sinusoid(n: int, d: int) -> torch.Tensor:
    # written independently of get_sinusoid_encoding_table: PE(p, 2j) = sin(p / 10000^(2j/d)), PE(p, 2j+1) = cos(...)
    out = torch.empty(n, d)
    for p in range(n):
        for j in range(d // 2):
            angle = p / (10000 ** (2 * j / d))
            out[p, 2 * j], out[p, 2 * j + 1] = math.sin(angle), math.cos(angle)
    return out


def _randomize(model):
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    return model.eval()


def test_nezha_has_no_absolute_positions_and_no_relative_parameters():
    model = build_transformer_model(model="nezha", **TINY)
    names = [n for n, _ in model.named_parameters()]
    assert not any("position" in n for n in names), names
    assert not list(model.encoderLayer[0].multiHeadAttention.relative_positions_encoding.parameters())


def test_nezha_layer_matches_equations():
    k = 3  # small clip so clipping happens inside an 11-token input
    model = _randomize(build_transformer_model(model="nezha", max_relative_position=k, output_all_encoded_layers=True, **TINY))
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        x = model.embeddings(ids, seg)
        att = model.encoderLayer[0].multiHeadAttention
        L, h, d = ids.shape[1], 4, 8
        q = att.q(x).view(3, L, h, d)
        kk = att.k(x).view(3, L, h, d)
        v = att.v(x).view(3, L, h, d)
        table = _sinusoid(2 * k + 1, d)
        r = torch.empty(L, L, d)
        for i in range(L):
            for j in range(L):
                r[i, j] = table[max(-k, min(k, j - i)) + k]
        e = torch.einsum("bihd,bjhd->bhij", q, kk) + torch.einsum("bihd,ijd->bhij", q, r)
        e = e / math.sqrt(d) + (1 - mask[:, None, None, :].float()) * -1e9
        p = e.softmax(-1)
        z = torch.einsum("bhij,bjhd->bihd", p, v) + torch.einsum("bhij,ijd->bihd", p, r)
        layer = model.encoderLayer[0]
        h1 = layer.layerNorm1(x + att.o(z.reshape(3, L, h * d)))
        expected = layer.layerNorm2(h1 + layer.feedForward(h1))
        got = model.apply_main_layers(model.apply_embeddings([ids, seg]))[0][1]
    keep = mask.bool()
    assert (got[keep] - expected[keep]).abs().max() < 1e-5
    # no absolute position anywhere: with every token equal, every position gets the same state
    # (relative terms are symmetric only in the sense that the multiset of distances differs, so compare the
    # embedding output instead, which must be position independent)
    with torch.no_grad():
        same = torch.full((1, 6), 7)
        emb = model.embeddings(same, torch.zeros_like(same))
    assert torch.allclose(emb[0, 0], emb[0, -1])


def _rope_complex(x: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x0, x1) as the complex number x0 + i x1 times exp(i p theta_j), theta_j = 10000^(-2j/d)."""
    *_, L, d = x.shape
    theta = 10000 ** (-torch.arange(0, d, 2).double() / d)
    angles = torch.arange(L).double()[:, None] * theta[None, :]
    z = torch.complex(x[..., 0::2].double(), x[..., 1::2].double()) * torch.polar(torch.ones_like(angles), angles)
    return torch.stack([z.real, z.imag], -1).reshape(x.shape).to(x.dtype)


def _rms(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps)


def test_roformer_v2_has_no_biases_and_no_norm_parameters():
    model = build_transformer_model(model="roformer_v2", with_mlm=True, **TINY)
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.endswith("bias") for n in names), names
    assert not any("orm" in n for n in names), names
    assert set(names) == {"embeddings.word_embeddings.weight", "embeddings.segment_embeddings.weight"} | {
        n for n in names if n.startswith("encoderLayer.")
    }


def test_roformer_v2_matches_equations():
    model = _randomize(build_transformer_model(model="roformer_v2", with_mlm=True, tie_emb_prj_weight=False, **TINY))
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        x = _rms(F.embedding(ids, model.embeddings.word_embeddings.weight) + F.embedding(seg, model.embeddings.segment_embeddings.weight))
        for layer in model.encoderLayer:
            att, ffn = layer.multiHeadAttention, layer.feedForward
            B, L, _ = x.shape
            q = _rope_complex((x @ att.q.weight.T).view(B, L, 4, 8).transpose(1, 2))
            k = _rope_complex((x @ att.k.weight.T).view(B, L, 4, 8).transpose(1, 2))
            v = (x @ att.v.weight.T).view(B, L, 4, 8).transpose(1, 2)
            s = q @ k.transpose(-1, -2) / math.sqrt(8) + (1 - mask[:, None, None, :].float()) * -1e9
            o = (s.softmax(-1) @ v).transpose(1, 2).reshape(B, L, 32) @ att.o.weight.T
            x = _rms(x + o)
            x = _rms(x + torch.relu(x @ ffn.intermediateDense.weight.T) @ ffn.outputDense.weight.T)
        hidden, scores = model([ids, seg])
    keep = mask.bool()
    assert (hidden[keep] - x[keep]).abs().max() < 1e-5
    assert (scores[keep] - (x @ model.mlmDecoder.weight.T)[keep]).abs().max() < 1e-4


def test_roformer_v2_loads_its_checkpoint_layout(tmp_path):
    model = _randomize(build_transformer_model(model="roformer_v2", with_mlm=True, **TINY))
    model.save_weights(tmp_path / "v2.safetensors", mapping="checkpoint")
    from bert4torch.models import load_checkpoint

    keys = set(load_checkpoint(tmp_path / "v2.safetensors"))
    assert "roformer.encoder.layer.0.attention.self.query.weight" in keys
    again = build_transformer_model(None, tmp_path / "v2.safetensors", model="roformer_v2", with_mlm=True, **TINY).eval()
    ids, seg, _ = random_inputs()
    with torch.no_grad():
        assert torch.equal(again([ids, seg])[1], model([ids, seg])[1])


def test_gau_alpha_matches_equations():
    opts = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=1, intermediate_size=48,
                attention_key_size=16, max_position=64)
    model = _randomize(build_transformer_model(model="gau_alpha", output_all_encoded_layers=True, **opts))
    ids, seg, mask = random_inputs()
    with torch.no_grad():
        x = _rms(F.embedding(ids, model.embeddings.word_embeddings.weight) + F.embedding(seg, model.embeddings.segment_embeddings.weight))
        gau = model.encoderLayer[0].gau
        h = F.silu(x @ gau.i_dense.weight.T)
        u, v, z = h[..., :48], h[..., 48:96], h[..., 96:]
        q = _rope_complex(z * gau.offsetscale.gamma[0])
        k = _rope_complex(z * gau.offsetscale.gamma[1])
        s = q @ k.transpose(-1, -2) / math.sqrt(16)
        n = mask.sum(1).float().view(-1, 1, 1)  # visible keys per sample
        s = s * torch.log(n) / math.log(512) + (1 - mask[:, None, :].float()) * -1e9
        expected = _rms(x + (u * (s.softmax(-1) @ v)) @ gau.o_dense.weight.T)
        got = model([ids, seg])[1]
    keep = mask.bool()
    assert (got[keep] - expected[keep]).abs().max() < 1e-5
    assert not any(n.endswith("bias") for n, _ in model.named_parameters())
