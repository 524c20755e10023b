"""Decoder-only families (gpt2, llama, qwen2, ...): parity with transformers, cache, left padding, round trip.

Every reference model is a tiny random `transformers` model saved to tmp_path; ours loads that folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from bert4torch.models import build_transformer_model  # noqa: E402

ATOL = 1e-5


@dataclass
class Family:
    name: str  # the `model=` name
    make_reference: Callable[[], Any]  # a tiny random transformers model
    label: str = ""


def _gpt2_ref() -> Any:
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=99, bos_token_id=1, eos_token_id=2)
    return transformers.GPT2LMHeadModel(cfg)


def _llama_ref() -> Any:
    # grouped-query attention: 4 query heads share 2 key/value heads
    cfg = transformers.LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, rope_theta=500.0,
    )
    return transformers.LlamaForCausalLM(cfg)


def _llama_tied_ref() -> Any:
    cfg = transformers.LlamaConfig(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=1, tie_word_embeddings=True, attention_bias=True, mlp_bias=True,
    )
    return transformers.LlamaForCausalLM(cfg)


def _qwen2_ref() -> Any:
    cfg = transformers.Qwen2Config(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2,
    )
    return transformers.Qwen2ForCausalLM(cfg)


def _qwen2_tied_ref() -> Any:
    cfg = transformers.Qwen2Config(
        vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, tie_word_embeddings=True,
    )
    return transformers.Qwen2ForCausalLM(cfg)


def _gpt_ref() -> Any:
    cfg = transformers.OpenAIGPTConfig(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)
    return transformers.OpenAIGPTLMHeadModel(cfg)


FAMILIES = [
    Family("gpt", _gpt_ref),
    Family("gpt2", _gpt2_ref),
    Family("llama", _llama_ref, "llama-gqa"),
    Family("llama", _llama_tied_ref, "llama-mqa-tied-bias"),
    Family("qwen2", _qwen2_ref, "qwen2-gqa"),
    Family("qwen2", _qwen2_tied_ref, "qwen2-tied"),
]


@pytest.fixture(params=FAMILIES, ids=lambda f: f.label or f.name)
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Family, Any, torch.nn.Module, Path]:
    fam = request.param
    torch.manual_seed(0)
    ref = fam.make_reference().eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model=fam.name).eval()
    return fam, ref, ours, tmp_path


def _ids(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 99, (batch, length), generator=g)


def test_logits_match_transformers(pair) -> None:
    fam, ref, ours, _ = pair
    ids = _ids(2, 9)
    with torch.inference_mode():
        theirs = ref(ids).logits
        mine = ours([ids])
    assert mine.shape == theirs.shape
    assert (mine - theirs).abs().max().item() <= ATOL


def test_cached_steps_equal_full_forward(pair) -> None:
    _, _, ours, _ = pair
    ids = _ids(2, 10)
    with torch.inference_mode():
        full = ours([ids])
        logits, cache = ours([ids[:, :4]], use_cache=True)
        steps = [logits]
        for t in range(4, 10):
            logits, cache = ours([ids[:, t : t + 1]], past_key_values=cache, use_cache=True)
            steps.append(logits)
    assert cache.seq_len == 10
    assert (torch.cat(steps, dim=1) - full).abs().max().item() <= ATOL


def test_left_padded_row_equals_unpadded_row(pair) -> None:
    _, _, ours, _ = pair
    short = _ids(1, 5, seed=2)
    long = _ids(1, 8, seed=3)
    pad = 0
    padded = torch.cat([torch.full((1, 3), pad), short], dim=1)
    batch = torch.cat([padded, long], dim=0)
    mask = batch != pad
    new_tokens = _ids(2, 3, seed=4)
    with torch.inference_mode():
        alone_full = ours([torch.cat([short, new_tokens[:1]], dim=1)])
        logits, cache = ours([batch], attention_mask=mask, use_cache=True)
        outs = [logits]
        for t in range(3):
            logits, cache = ours([new_tokens[:, t : t + 1]], past_key_values=cache, use_cache=True)
            outs.append(logits)
    got = torch.cat(outs, dim=1)[0, 3:]
    assert (got - alone_full[0]).abs().max().item() <= ATOL


def test_round_trip_into_transformers(pair, tmp_path: Path) -> None:
    fam, ref, ours, _ = pair
    out = tmp_path / "back"
    ours.save_pretrained(out)
    back = type(ref).from_pretrained(out).eval()
    ids = _ids(2, 7)
    with torch.inference_mode():
        assert torch.equal(back(ids).logits, ref(ids).logits)
    again = build_transformer_model(config_path=out, checkpoint_path=out, model=fam.name).eval()
    with torch.inference_mode():
        assert torch.equal(again([ids]), ours([ids]))


def test_gpt_segment_ids_and_softmax_option(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = _gpt_ref().eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="gpt",
                                   segment_vocab_size=2).eval()
    probs_model = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="gpt",
                                          final_activation="softmax").eval()
    ids, seg = _ids(2, 6), torch.tensor([[0, 0, 1, 1, 0, 1]] * 2)
    with torch.inference_mode():
        theirs = ref(ids, token_type_ids=seg).logits
        assert (ours([ids, seg]) - theirs).abs().max().item() <= ATOL
        assert (probs_model([ids]) - ref(ids).logits.softmax(-1)).abs().max().item() <= ATOL


def test_gpt2_c_attn_surgery_round_trips() -> None:
    from bert4torch.models.gpt2 import gpt2_merge_c_attn, gpt2_split_c_attn

    g = torch.Generator().manual_seed(0)
    hf = {
        "transformer.h.0.attn.c_attn.weight": torch.randn(8, 24, generator=g),
        "transformer.h.0.attn.c_attn.bias": torch.randn(24, generator=g),
        "transformer.h.0.attn.c_proj.weight": torch.randn(8, 8, generator=g),
        "transformer.h.0.mlp.c_fc.weight": torch.randn(8, 32, generator=g),
        "transformer.ln_f.weight": torch.randn(8, generator=g),
    }
    split = dict(gpt2_split_c_attn(hf.items()))
    # Conv1D computes x @ W[:, :8] for q; nn.Linear computes x @ W_q^T
    assert torch.equal(split["transformer.h.0.attn.q.weight"], hf["transformer.h.0.attn.c_attn.weight"][:, :8].T)
    assert torch.equal(split["transformer.h.0.attn.v.bias"], hf["transformer.h.0.attn.c_attn.bias"][16:])
    assert split["transformer.h.0.mlp.c_fc.weight"].shape == (32, 8)
    back = gpt2_merge_c_attn(split)
    assert back.keys() == hf.keys()
    assert all(torch.equal(back[k], hf[k]) for k in hf)


@pytest.mark.parametrize(
    ("model", "config", "message"),
    [
        ("gpt2", {"n_layer": 1, "n_head": 2, "vocab_size": 10, "n_embed": 8}, "'n_embed' looks like 'hidden_size'"),
        ("gpt2", {"n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 10, "scale_attn_by_inverse_layer_idx": True},
         "scale_attn_by_inverse_layer_idx"),
        ("llama", {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
                   "vocab_size": 10, "rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "rope_type"),
        ("qwen2", {"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 8,
                   "vocab_size": 10, "use_sliding_window": True}, "use_sliding_window"),
    ],
)
def test_config_errors_name_the_problem(model: str, config: dict, message: str, tmp_path: Path) -> None:
    import json

    from bert4torch.models import ConfigError

    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=message):
        build_transformer_model(config_path=tmp_path / "config.json", model=model)


def test_cache_reorder_selects_rows() -> None:
    torch.manual_seed(0)
    model = build_transformer_model(model="llama", vocab_size=30, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=4, num_key_value_heads=2, intermediate_size=24).eval()
    ids = torch.randint(0, 30, (3, 5))
    nxt = torch.randint(0, 30, (2, 1))
    with torch.inference_mode():
        _, cache = model([ids], use_cache=True)
        picked = cache.reorder(torch.tensor([2, 0]))
        got, _ = model([nxt], past_key_values=picked, use_cache=True)
        want = model([torch.cat([ids[[2, 0]], nxt], 1)])[:, -1:]
    assert picked.batch_size == 2 and cache.batch_size == 3
    assert (got - want).abs().max().item() <= ATOL


def test_training_mode_uses_dropout_and_backpropagates() -> None:
    torch.manual_seed(0)
    model = build_transformer_model(model="gpt2", vocab_size=30, hidden_size=16, num_hidden_layers=1,
                                    num_attention_heads=4, dropout_rate=0.5, attention_probs_dropout_prob=0.5)
    ids = torch.randint(0, 30, (2, 6))
    model.train()
    a, b = model([ids]), model([ids])
    assert not torch.equal(a, b)
    torch.nn.functional.cross_entropy(a.flatten(0, 1), ids.flatten()).backward()
    assert model.encoderLayer[0].multiHeadAttention.q.weight.grad is not None
    model.eval()
    with torch.inference_mode():
        assert torch.equal(model([ids]), model([ids]))


def test_llama_sharded_folder_loads(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = _llama_ref().eval()
    ref.save_pretrained(tmp_path, max_shard_size="20KB")
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    ours = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model="llama").eval()
    ids = _ids(1, 5)
    with torch.inference_mode():
        assert (ours([ids]) - ref(ids).logits).abs().max().item() <= ATOL


def test_list_and_unpacked_inputs_agree(pair) -> None:
    fam, _, ours, _ = pair
    ids = _ids(2, 5)
    with torch.inference_mode():
        assert torch.equal(ours([ids]), ours(ids))
        assert torch.equal(ours((ids,)), ours(ids))


def test_original_segment_vocab_size_zero_is_accepted() -> None:
    from bert4torch.models import ConfigError

    base = dict(vocab_size=30, hidden_size=16, num_hidden_layers=1, num_attention_heads=4)
    build_transformer_model(model="gpt2", segment_vocab_size=0, **base)  # what the original's CPM example passes
    with pytest.raises(ConfigError, match="segment_vocab_size"):
        build_transformer_model(model="gpt2", segment_vocab_size=2, **base)
