"""generate() against transformers.generate, token for token, over a grid of models and decoding settings.

Tiny random models (gpt2, llama with grouped-query attention, qwen2, t5 v1.1, bart) are built by transformers, saved,
and loaded by bert4torch from the saved folder. Tokens after a row's first end id are filler (transformers fills
finished beams with its own choice of id), so each row is compared up to and including its first end id.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import torch

from bert4torch.generation import generate

transformers = pytest.importorskip("transformers")
build_transformer_model = pytest.importorskip("bert4torch.models").build_transformer_model

VOCAB, EOS, PAD, NEW = 32, 2, 0, 8  # a small vocabulary, so that the end id is often among the candidates


def _decoder_cfg() -> dict[str, Any]:
    return dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                num_key_value_heads=2, eos_token_id=EOS, pad_token_id=PAD)


REFERENCES = {
    "gpt2": lambda: transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=64, bos_token_id=1, eos_token_id=EOS)),
    "llama": lambda: transformers.LlamaForCausalLM(transformers.LlamaConfig(**_decoder_cfg())),
    "qwen2": lambda: transformers.Qwen2ForCausalLM(transformers.Qwen2Config(**_decoder_cfg())),
    "t5.1.1": lambda: transformers.T5ForConditionalGeneration(transformers.T5Config(
        vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=37, num_layers=2, num_decoder_layers=2, num_heads=4,
        relative_attention_num_buckets=8, relative_attention_max_distance=20, decoder_start_token_id=0,
        feed_forward_proj="gated-gelu", tie_word_embeddings=False, eos_token_id=EOS, pad_token_id=PAD)),
    "bart": lambda: transformers.BartForConditionalGeneration(transformers.BartConfig(
        vocab_size=VOCAB, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_ffn_dim=37, decoder_ffn_dim=37, max_position_embeddings=64,
        forced_eos_token_id=None)),
}
SEQ2SEQ = {"t5.1.1", "bart"}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Any, Any]]:
    built = {}
    for name, make in REFERENCES.items():
        torch.manual_seed(0)
        ref = make().eval()
        folder: Path = tmp_path_factory.mktemp(name.replace(".", "_"))
        ref.save_pretrained(folder)
        built[name] = ref, build_transformer_model(config_path=folder, checkpoint_path=folder, model=name).eval()
    return built


def left_padded(lengths: list[int], seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.full((len(lengths), width), PAD)
    mask = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, width - n:] = torch.randint(3, VOCAB, (n,), generator=g)
        mask[row, width - n:] = 1
    return ids, mask


def until_end(tokens: torch.Tensor, ends: set[int]) -> list[list[int]]:
    rows = []
    for row in tokens.tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in ends), len(row))
        rows.append(row[:cut])
    return rows


def run_both(name: str, pairs: dict, batch: int, seed: int | None = None, **kw: Any) -> tuple[list, list]:
    ref, ours = pairs[name]
    ids, mask = left_padded([5, 7, 2][:batch] if batch > 1 else [6])
    eos = kw.pop("eos_token_id", EOS)
    if seed is not None:
        torch.manual_seed(seed)
    config = ref.generation_config
    saved, config.eos_token_id = config.eos_token_id, eos  # an explicit None is "unset" to generate(): the config's
    try:
        with torch.inference_mode():
            out = ref.generate(ids, attention_mask=mask, max_new_tokens=NEW, eos_token_id=eos, pad_token_id=PAD,
                               use_cache=True, **kw)
    finally:
        config.eos_token_id = saved
    theirs = out[:, 1:] if name in SEQ2SEQ else out[:, ids.shape[1]:]
    if seed is not None:
        torch.manual_seed(seed)
    mine = generate(ours, ids, attention_mask=mask, max_new_tokens=NEW, eos_token_id=eos, pad_token_id=PAD, **kw)
    ends = {eos} if isinstance(eos, int) else set(eos or ())
    return until_end(mine, ends), until_end(theirs, ends)


BEAM_GRID = [dict(num_beams=b, length_penalty=lp, early_stopping=es)
             for b, lp, es in itertools.product((2, 4), (0.6, 1.0, 2.0), (True, False))]
OTHER_GRID = [
    dict(),
    dict(num_beams=4, early_stopping="never"),
    dict(num_beams=2, num_return_sequences=2),
    dict(num_beams=4, num_return_sequences=2, length_penalty=0.6),
    dict(repetition_penalty=1.3),
    dict(num_beams=4, repetition_penalty=1.3),
    dict(no_repeat_ngram_size=2),
    dict(num_beams=2, no_repeat_ngram_size=2),
    dict(min_new_tokens=5),
    dict(num_beams=4, min_new_tokens=5),
    dict(eos_token_id=[EOS, 5]),
    dict(num_beams=4, eos_token_id=[EOS, 5, 7]),
    dict(repetition_penalty=1.3, no_repeat_ngram_size=2, min_new_tokens=3),
    dict(eos_token_id=None),  # no end id: every row runs NEW steps (beams end only at the length limit)
    dict(num_beams=3, eos_token_id=None),
]


def _case_id(kw: dict) -> str:
    return "-".join(f"{k}={v}" for k, v in kw.items()) or "greedy"


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kw", BEAM_GRID + OTHER_GRID, ids=_case_id)
@pytest.mark.parametrize("name", list(REFERENCES))
def test_tokens_match_transformers(pairs, name: str, kw: dict, batch: int) -> None:
    mine, theirs = run_both(name, pairs, batch, **dict(kw))
    assert mine == theirs


SAMPLE_GRID = [dict(top_k=0, top_p=1.0, temperature=1.0), dict(top_k=5, top_p=1.0, temperature=0.7),
               dict(top_k=0, top_p=0.8, temperature=1.3), dict(top_k=10, top_p=0.9, num_return_sequences=2)]


@pytest.mark.parametrize("kw", SAMPLE_GRID, ids=_case_id)
@pytest.mark.parametrize("name", list(REFERENCES))
def test_sampling_matches_transformers_with_the_same_seed(pairs, name: str, kw: dict) -> None:
    mine, theirs = run_both(name, pairs, 3, seed=123, do_sample=True, **dict(kw))
    assert mine == theirs


def test_every_family_of_the_grid_decodes_on_the_preallocated_cache(pairs) -> None:
    # the grid is the parity test of that path: a family falling back to the generic one would go untested
    from bert4torch.generation._static import family_of

    assert {name for name, (_, ours) in pairs.items() if family_of(ours) is None} == set()
