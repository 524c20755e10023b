"""bert4torch.layers: CRF against brute force, GlobalPointer's RoPE axis, pooling, whitening, MixUp, norms."""

from __future__ import annotations

import itertools

import pytest
import torch

from bert4torch.layers import (
    BERT_WHITENING,
    CRF,
    EfficientGlobalPointer,
    GlobalPointer,
    LayerNorm,
    MixUp,
    RoPEPositionEncoding,
    TplinkerHandshakingKernel,
    create_position_ids_from_input_ids,
    get_pool_emb,
    get_sinusoid_encoding_table,
)


def _brute(crf, em, length):
    k = crf.num_tags
    scores = {}
    for path in itertools.product(range(k), repeat=length):
        s = crf.start_transitions[path[0]] + em[0, path[0]]
        for t in range(1, length):
            s = s + crf.transitions[path[t - 1], path[t]] + em[t, path[t]]
        scores[path] = (s + crf.end_transitions[path[-1]]).item()
    return scores


def test_crf_loss_reductions_and_decode_against_brute_force():
    torch.manual_seed(0)
    crf = CRF(3)
    em = torch.randn(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    tags = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
    nll = crf(em, mask, tags, reduction="none")
    for b, length in enumerate([4, 3]):
        scores = _brute(crf, em[b], length)
        logz = torch.logsumexp(torch.tensor(list(scores.values())), 0)
        gold = scores[tuple(tags[b, :length].tolist())]
        assert abs(nll[b].item() - (logz.item() - gold)) < 1e-4
        ranked = sorted(scores, key=scores.get, reverse=True)
        best = crf.decode(em[b : b + 1], mask[b : b + 1])
        assert best.shape == (1, 4) and tuple(best[0, :length].tolist()) == ranked[0]
        top3 = crf.decode(em[b : b + 1], mask[b : b + 1], nbest=3)
        assert top3.shape == (3, 1, 4)
        assert [tuple(p[0, :length].tolist()) for p in top3] == ranked[:3]
    assert torch.allclose(crf(em, mask, tags, "sum"), nll.sum())
    assert torch.allclose(crf(em, mask, tags, "mean"), nll.mean())
    assert torch.allclose(crf(em, mask, tags, "token_mean"), nll.sum() / 7)
    assert crf.decode(em, mask)[1, 3].item() == 0  # padding gets pad_tag 0
    assert crf.decode(em, mask, pad_tag=-1)[1, 3].item() == -1


def test_crf_init_transitions_and_freeze():
    t = [torch.zeros(2, 2), torch.ones(2), torch.full((2,), 2.0)]
    crf = CRF(2, init_transitions=t, freeze=True)
    assert not list(crf.parameters()) and torch.equal(crf.end_transitions, t[2])


def test_global_pointer_rope_runs_along_the_sequence():
    torch.manual_seed(0)
    gp = GlobalPointer(16, heads=2, head_size=8).eval()
    x = torch.randn(1, 6, 16)
    out = gp(x)
    assert out.shape == (1, 2, 6, 6)
    # independent check: rotate q and k by sequence position with RoPE and compare
    proj = torch.stack(torch.chunk(gp.dense(x), 2, dim=-1), dim=-2)
    q, k = proj[..., :8], proj[..., 8:]
    rope = RoPEPositionEncoding(512, 8)
    q = rope(q.transpose(1, 2)).transpose(1, 2)  # [b, heads, L, d] form: sequence on axis -2
    k = rope(k.transpose(1, 2)).transpose(1, 2)
    ref = torch.einsum("bmhd,bnhd->bhmn", q, k)
    ref = (ref - torch.tril(torch.ones_like(ref), -1) * 1e12) / 8**0.5
    assert torch.allclose(out, ref, atol=1e-5)
    # RoPE makes the score depend on the relative offset only: the same token pair at shifted positions scores the same
    same = torch.randn(1, 1, 16).expand(1, 6, 16)
    s = gp(same)[0, 0]
    assert torch.allclose(s[0, 2], s[3, 5], atol=1e-4)


def test_efficient_global_pointer_and_masking():
    egp = EfficientGlobalPointer(16, heads=3, head_size=8)
    mask = torch.tensor([[1, 1, 1, 0]])
    out = egp(torch.randn(1, 4, 16), mask)
    assert out.shape == (1, 3, 4, 4) and torch.isinf(out[0, :, 3]).all() and torch.isinf(out[0, :, :, 3]).all()


@pytest.mark.parametrize("shaking,inner", [("cat", ""), ("cat_plus", "mean_pooling"), ("cat_plus", "max_pooling"),
                                           ("cat_plus", "mix_pooling"), ("cln", ""), ("cln_plus", "lstm")])
def test_tplinker_handshaking_shapes(shaking, inner):
    kernel = TplinkerHandshakingKernel(8, shaking, inner)
    assert kernel(torch.randn(2, 5, 8)).shape == (2, 15, 8)


def test_tplinker_running_pooling_matches_loop():
    kernel = TplinkerHandshakingKernel(4, "cat_plus", "max_pooling")
    x = torch.randn(2, 5, 4)
    ref = torch.stack([x[:, : i + 1].max(1).values for i in range(5)], 1)
    assert torch.allclose(kernel.enc_inner_hiddens(x, "max_pooling"), ref)


def test_get_pool_emb_strategies():
    torch.manual_seed(0)
    layers = [torch.randn(2, 4, 3) for _ in range(3)]
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    last = layers[-1]
    assert torch.equal(get_pool_emb(last, pool_strategy="cls"), last[:, 0])
    assert torch.allclose(get_pool_emb(last, attention_mask=mask, pool_strategy="mean")[0], last[0, :2].mean(0))
    big = last.clone()
    big[0, 3] = 100.0  # padding must not win the max
    assert torch.allclose(get_pool_emb(big, attention_mask=mask, pool_strategy="last-max")[0], last[0, :2].max(0).values)
    fl = get_pool_emb(layers, attention_mask=mask, pool_strategy="first-last-avg")
    assert torch.allclose(fl[1], (layers[1][1].mean(0) + layers[2][1].mean(0)) / 2)
    custom = get_pool_emb(layers, attention_mask=mask, pool_strategy="custom", custom_layer=[0, 2])
    assert torch.allclose(custom[1], (layers[0][1].mean(0) + layers[2][1].mean(0)) / 2)
    assert torch.equal(get_pool_emb(pooler=last[:, 0], pool_strategy="pooler"), last[:, 0])
    with pytest.raises(ValueError):
        get_pool_emb(last, pool_strategy="nope")


def test_bert_whitening_fit_save_load(tmp_path):
    torch.manual_seed(0)
    vecs = torch.randn(500, 6) @ torch.randn(6, 6) + 3
    w = BERT_WHITENING()
    w.compute_kernel_bias([vecs[:250], vecs[250:]])
    white = (vecs + w.bias) @ w.kernel
    assert torch.allclose(torch.cov(white.T), torch.eye(6), atol=1e-3)
    w.save_whiten(tmp_path / "w.pt")
    w2 = BERT_WHITENING()
    w2.load_whiten(tmp_path / "w.pt")
    out = w2.transform_and_normalize(vecs[:3])
    assert torch.allclose(out, w.transform_and_normalize(vecs[:3])) and torch.allclose(out.norm(dim=1), torch.ones(3))


def test_layer_norm_modes():
    x = torch.randn(2, 3, 8)
    assert torch.allclose(LayerNorm(8)(x), torch.nn.functional.layer_norm(x, (8,), eps=1e-12), atol=1e-6)
    rms = LayerNorm(8, norm_mode="rmsnorm", bias=False, weight=False)
    assert torch.allclose(rms(x), x / x.pow(2).mean(-1, keepdim=True).add(1e-12).sqrt(), atol=1e-6)
    cln = LayerNorm(8, conditional_size=4)
    cond = torch.randn(2, 4)
    assert torch.allclose(cln((x, cond)), LayerNorm(8)(x), atol=1e-6)  # zero-initialised condition
    with torch.no_grad():
        cln.dense1.weight.fill_(0.1)
    gain = 1 + cond @ cln.dense1.weight.T
    assert torch.allclose(cln((x, cond)), torch.nn.functional.layer_norm(x, (8,), eps=1e-12) * gain[:, None], atol=1e-5)


def test_position_helpers():
    table = get_sinusoid_encoding_table(4, 6)
    assert torch.allclose(table[2, 2], torch.tensor(2 / 10000 ** (2 / 6)).sin())
    ids = torch.tensor([[5, 6, 1, 1]])
    assert create_position_ids_from_input_ids(ids, padding_idx=1).tolist() == [[2, 3, 1, 1]]


def test_mixup_methods_restore_hooks():
    from bert4torch.models import build_transformer_model

    model = build_transformer_model(vocab_size=20, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=8)
    ids = torch.randint(1, 20, (4, 5))
    for method in ("encoder", "embed", "hidden", None):
        mix = MixUp(method, layer_mix=1 if method == "hidden" else None)
        out = mix.encode(model, [ids, torch.zeros_like(ids)])
        assert out.shape == (4, 5, 8)
        loss = mix(lambda p, y: ((p.mean((1, 2)) - y) ** 2).mean(), out, torch.randn(4))
        assert loss.dim() == 0
    assert "apply_on_layer_end" not in vars(model)
