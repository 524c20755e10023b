"""Cached generation against transformers.generate, token for token: greedy, sampling, left-padded batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bert4torch.generation import filter_logits, generate

transformers = pytest.importorskip("transformers")
build_transformer_model = pytest.importorskip("bert4torch.models").build_transformer_model

EOS, PAD = 2, 0


def _gpt2() -> object:
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=99, bos_token_id=1, eos_token_id=EOS)
    return transformers.GPT2LMHeadModel(cfg)


def _llama() -> object:
    cfg = transformers.LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                                   num_attention_heads=4, num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD)
    return transformers.LlamaForCausalLM(cfg)


@pytest.fixture(params=[("gpt2", _gpt2), ("llama", _llama)], ids=lambda p: p[0])
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[object, torch.nn.Module]:
    name, make = request.param
    torch.manual_seed(0)
    ref = make().eval()
    ref.save_pretrained(tmp_path)
    ours = build_transformer_model(config_path=tmp_path, checkpoint_path=tmp_path, model=name).eval()
    return ref, ours


def left_padded(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), PAD)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(3, 99, (n,), generator=g)
        mask[row, width - n:] = 1
    return ids, mask


def hf_new_tokens(ref: object, ids: torch.Tensor, mask: torch.Tensor, **kw: object) -> torch.Tensor:
    out = ref.generate(ids, attention_mask=mask, pad_token_id=PAD, eos_token_id=EOS, **kw)
    return out[:, ids.shape[1]:]


def test_greedy_batch_matches_transformers(pair) -> None:
    ref, ours = pair
    ids, mask = left_padded([5, 9, 1])
    theirs = hf_new_tokens(ref, ids, mask, max_new_tokens=24, do_sample=False)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=24, eos_token_id=EOS, pad_token_id=PAD)
    assert mine.tolist() == theirs.tolist()


def test_padded_row_decodes_as_it_would_alone(pair) -> None:
    _, ours = pair
    ids, mask = left_padded([3, 8])
    batched = generate(ours, ids, attention_mask=mask, max_new_tokens=12)
    alone = generate(ours, ids[:1, -3:], max_new_tokens=12)
    assert batched[0].tolist() == alone[0].tolist()


@pytest.mark.parametrize("top_k, top_p, temperature", [(0, 1.0, 1.0), (5, 1.0, 0.7), (0, 0.8, 1.3), (10, 0.9, 1.0)])
def test_sampling_matches_transformers_with_the_same_seed(pair, top_k: int, top_p: float, temperature: float) -> None:
    ref, ours = pair
    ids, mask = left_padded([4, 6])
    torch.manual_seed(123)
    theirs = hf_new_tokens(ref, ids, mask, max_new_tokens=16, do_sample=True, top_k=top_k, top_p=top_p,
                           temperature=temperature)
    torch.manual_seed(123)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=16, eos_token_id=EOS, pad_token_id=PAD,
                    do_sample=True, top_k=top_k, top_p=top_p, temperature=temperature)
    assert mine.tolist() == theirs.tolist()


def test_filter_logits_keeps_top_k_and_the_nucleus() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False, False]]
    # nucleus of 0.8: 0.5 + 0.2 = 0.7 < 0.8, so the third token is needed too
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).tolist() == [[True, False, False, False, False]]
    assert torch.equal(filter_logits(logits), logits)


def test_bad_arguments(pair) -> None:
    _, ours = pair
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate(ours, torch.ones(1, 2, dtype=torch.long), max_new_tokens=0)
    with pytest.raises(ValueError, match="prompt_len"):
        generate(ours, torch.ones(1, 0, dtype=torch.long), max_new_tokens=1)
    with pytest.raises(ValueError, match="temperature"):
        generate(ours, torch.ones(1, 2, dtype=torch.long), max_new_tokens=1, do_sample=True, temperature=0)


@pytest.mark.parametrize("packed", [True, False], ids=["onednn", "addmm"])
def test_both_weight_layouts_match_transformers(pair, monkeypatch, packed: bool) -> None:
    """Float32 steps multiply by oneDNN-packed weights where torch has oneDNN, else by an [in, out] copy with addmm."""
    from bert4torch.generation import _layout
    from bert4torch.generation._static import family_of

    if packed and not _layout._onednn_packs():
        pytest.skip("this torch has no oneDNN linear")
    monkeypatch.setattr(_layout, "_onednn_packs", lambda: packed)
    ref, ours = pair  # a fresh model: nothing arranged for it yet
    ids, mask = left_padded([7, 4, 9])
    with torch.inference_mode():
        expected = hf_new_tokens(ref, ids, mask, max_new_tokens=12, do_sample=False)
    assert torch.equal(generate(ours, ids, attention_mask=mask, max_new_tokens=12, eos_token_id=EOS,
                                pad_token_id=PAD), expected)
    head = family_of(ours).head
    _, weight, _ = _layout._ARRANGED[head][(id(head),)]  # what the steps multiplied by
    assert weight.is_mkldnn == packed


@pytest.mark.parametrize("native", [False, True], ids=["float32-prompt", "bf16-prompt"])
def test_bfloat16_weights_match_transformers_in_bfloat16(pair, monkeypatch, native: bool) -> None:
    """bfloat16 steps multiply ``[out, in]`` weights with ``F.linear``; a prompt of 12 rows or more multiplies in
    float32 on a CPU without bf16 arithmetic (the 27 rows of the padded batch), natively on one with it: the tokens of
    transformers' model cast the same way, either way."""
    from bert4torch.generation import _layout

    monkeypatch.setattr(_layout, "_native_product", lambda dtype: native)
    ref, ours = pair
    ref, ours = ref.to(torch.bfloat16), ours.to(torch.bfloat16)
    for lengths in ([6], [5, 9, 1]):
        ids, mask = left_padded(lengths)
        with torch.inference_mode():
            expected = hf_new_tokens(ref, ids, mask, max_new_tokens=16, do_sample=False)
        assert generate(ours, ids, attention_mask=mask, max_new_tokens=16, eos_token_id=EOS,
                        pad_token_id=PAD).tolist() == expected.tolist()


def test_nan_logits_from_a_prompt_are_refused(pair) -> None:
    from bert4torch.generation._static import family_of

    _, ours = pair
    with torch.no_grad():
        family_of(ours).final.weight[0] = float("nan")
    with pytest.raises(FloatingPointError, match="NaN logits"):
        generate(ours, torch.tensor([[5, 6, 7]]), max_new_tokens=3)


def test_one_token_prompts_match_transformers(pair) -> None:
    """A prompt of one token runs the prefill as a step (no causal mask to build)."""
    ref, ours = pair
    ids = torch.tensor([[7], [9], [11]])
    for beams in (1, 3):
        with torch.inference_mode():
            expected = hf_new_tokens(ref, ids, torch.ones_like(ids), max_new_tokens=10, do_sample=False,
                                     num_beams=beams)
        assert generate(ours, ids, max_new_tokens=10, num_beams=beams, eos_token_id=EOS,
                        pad_token_id=PAD).tolist() == expected.tolist()


@pytest.mark.parametrize("cast", [1 << 23, 5 * 16], ids=["whole", "in-slices"])
def test_a_reduced_precision_prompt_product_is_the_float32_product_rounded(monkeypatch, cast: int) -> None:
    """On a CPU without bf16 arithmetic, 12 rows or more multiply in float32 (weights cast a slice at a time)."""
    from bert4torch.generation import _layout

    monkeypatch.setattr(_layout, "_native_product", lambda dtype: False)
    monkeypatch.setattr(_layout, "_CAST_ELEMENTS", cast)  # 5 output rows of 16 inputs per slice: 5 slices of 23
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*shape, generator=g).bfloat16() for shape in ((12, 16), (23, 16), (23,)))
    exact = torch.nn.functional.linear(x.double(), w.double(), b.double())
    linear, weights = torch.nn.functional.linear, []
    monkeypatch.setattr(torch.nn.functional, "linear", lambda x, w, b: weights.append(w.dtype) or linear(x, w, b))
    got = _layout.rows_product(x, w, b)
    assert weights == [torch.float32] * (1 if cast > 23 * 16 else 5)
    assert got.dtype == torch.bfloat16 and got.shape == (12, 23)
    assert torch.equal(got, exact.bfloat16())  # float32 accumulation of 16 products: the same bf16 after rounding
