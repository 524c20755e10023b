"""Bad inputs to generation: each gets a clear error naming the argument, never an obscure crash or a silent result.

One test per behaviour, named after it; then a probe that runs the package's public functions on adversarial values
(hypothesis) and classifies every outcome: ok (a result that passes its check), clear error (a TypeError or
ValueError naming an argument), obscure crash, silent wrong result, hang. Only the first two pass.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from b4t_testing.probe import CLEAR, OK, classify
from bert4torch.generation import AutoRegressiveDecoder, filter_logits, generate, generate_text, stream_generate

VOCAB, EOS, POSITIONS = 32, 2, 24


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A tiny GPT-2 saved by transformers and loaded by bert4torch (the tests that need a model skip without them)."""
    transformers = pytest.importorskip("transformers")
    build_transformer_model = pytest.importorskip("bert4torch.models").build_transformer_model
    torch.manual_seed(0)
    ref = transformers.GPT2LMHeadModel(transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=4, vocab_size=VOCAB, n_positions=POSITIONS, bos_token_id=1, eos_token_id=EOS))
    folder: Path = tmp_path_factory.mktemp("gpt2")
    ref.save_pretrained(folder)
    return build_transformer_model(config_path=folder, checkpoint_path=folder, model="gpt2").eval()


PROMPT = torch.tensor([[5, 6, 7, 8]])


class Flat(AutoRegressiveDecoder):
    """Scores that do not depend on the inputs: token 2 is the most likely, then 1, 3, 0."""

    scores = torch.tensor([[0.0, 1.0, 2.0, 0.5]])

    @AutoRegressiveDecoder.wraps(default_rtype="logits")
    def predict(self, inputs, output_ids, states):
        return self.scores.expand(output_ids.shape[0], 4)


class NaNScores(Flat):
    scores = torch.tensor([[0.0, float("nan"), 2.0, 0.5]])


def decoder(**kw: Any) -> Flat:
    return Flat(**{"start_id": None, "end_id": 3, "maxlen": 3, **kw})


# ---- AutoRegressiveDecoder ---------------------------------------------------------------------------------------
def test_beam_search_refuses_temperature_zero() -> None:
    with pytest.raises(ValueError, match="temperature must be a finite number > 0: got 0"):
        decoder().beam_search([[1]], topk=2, temperature=0)


def test_beam_search_refuses_a_negative_temperature() -> None:
    with pytest.raises(ValueError, match="temperature must be a finite number > 0: got -1.0"):
        decoder().beam_search([[1]], topk=2, temperature=-1.0)


def test_beam_search_refuses_nan_scores_from_predict() -> None:
    with pytest.raises(FloatingPointError, match="NaN"):
        NaNScores(start_id=None, end_id=3, maxlen=3).beam_search([[1]], topk=2)


def test_random_sample_refuses_nan_scores_from_predict() -> None:
    with pytest.raises(FloatingPointError, match="NaN"):
        NaNScores(start_id=None, end_id=3, maxlen=3).random_sample([[1]], n=2)


def test_a_temperature_too_small_for_the_scores_is_named() -> None:
    # 2.0 / 1e-300 overflows float32: the NaN that follows is the temperature's doing, not predict()'s
    for call in (lambda d: d.beam_search([[1]], topk=2, temperature=1e-300),
                 lambda d: d.random_sample([[1]], n=2, temperature=1e-300)):
        with pytest.raises(ValueError, match="temperature=1e-300 is too small for these scores"):
            call(decoder())


def test_random_sample_without_an_end_id_runs_to_maxlen() -> None:
    samples = decoder(end_id=None, maxlen=4).random_sample([[1]], n=3)
    assert [len(s) for s in samples] == [4, 4, 4]


def test_beam_search_without_an_end_id_is_refused() -> None:
    with pytest.raises(ValueError, match="beam_search needs an end_id"):
        decoder(end_id=None).beam_search([[1]], topk=2)


def test_beam_search_refuses_topk_zero() -> None:
    with pytest.raises(ValueError, match="topk must be a positive int"):
        decoder().beam_search([[1]], topk=0)


def test_random_sample_refuses_topk_zero() -> None:
    with pytest.raises(ValueError, match="topk must be a positive int"):
        decoder().random_sample([[1]], n=2, topk=0)


def test_random_sample_refuses_a_negative_topk() -> None:
    with pytest.raises(ValueError, match="topk must be a positive int"):
        decoder().random_sample([[1]], n=2, topk=-3)


def test_random_sample_refuses_topk_above_the_vocabulary() -> None:
    with pytest.raises(ValueError, match="topk=5 is larger than the vocabulary"):
        decoder().random_sample([[1]], n=2, topk=5)


def test_random_sample_refuses_a_negative_n() -> None:
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        decoder().random_sample([[1]], n=-1)


def test_random_sample_refuses_temperature_zero() -> None:
    with pytest.raises(ValueError, match="temperature must be a finite number > 0"):
        decoder().random_sample([[1]], n=2, temperature=0)


def test_random_sample_refuses_a_top_p_outside_0_1() -> None:
    with pytest.raises(ValueError, match="topp must be in"):
        decoder().random_sample([[1]], n=2, topp=-0.5)


def test_decoder_refuses_a_maxlen_that_is_not_an_int() -> None:
    with pytest.raises(ValueError, match="maxlen must be an int >= 1: got '3'"):
        decoder(maxlen="3")


def test_decoder_refuses_a_min_ends_below_one() -> None:
    with pytest.raises(ValueError, match="min_ends must be an int >= 1"):
        decoder().beam_search([[1]], topk=2, min_ends=0)


# ---- generate ----------------------------------------------------------------------------------------------------
def test_generate_refuses_top_p_above_one(gpt2) -> None:
    with pytest.raises(ValueError, match="top_p must be in"):
        generate(gpt2, PROMPT, max_new_tokens=2, do_sample=True, top_p=1.5)


def test_filter_logits_refuses_a_negative_top_p() -> None:
    with pytest.raises(ValueError, match="top_p must be in"):
        filter_logits(torch.zeros(1, 5), top_p=-0.5)


def test_generate_refuses_nan_logits_from_the_model() -> None:
    class NaNs(torch.nn.Module):
        def forward(self, inputs: list, attention_mask=None, past_key_values=None, use_cache=False) -> Any:
            logits = torch.full((inputs[0].shape[0], inputs[0].shape[1], VOCAB), float("nan"))
            return (logits, None) if use_cache else logits

    with pytest.raises(FloatingPointError, match="NaN logits"):
        generate(NaNs(), PROMPT, max_new_tokens=3)


def test_generate_past_max_position_names_max_position_and_max_new_tokens(gpt2) -> None:
    with pytest.raises(ValueError, match=r"max_new_tokens=30 runs past the model's 24 positions \(config "
                                         r"max_position\).*max_new_tokens <= 21"):
        generate(gpt2, PROMPT, max_new_tokens=30)


def test_generate_up_to_the_last_position_runs(gpt2) -> None:
    assert generate(gpt2, PROMPT, max_new_tokens=21).shape == (1, 21)


def test_a_prompt_longer_than_the_positions_is_refused(gpt2) -> None:
    with pytest.raises(ValueError, match="more than the model's 24 positions"):
        generate(gpt2, torch.ones(1, 25, dtype=torch.long), max_new_tokens=1)


def test_generate_refuses_ids_outside_the_vocabulary(gpt2) -> None:
    with pytest.raises(ValueError, match=r"input_ids must be token ids in \[0, 32\): got ids from 5 to 40"):
        generate(gpt2, torch.tensor([[5, 40]]), max_new_tokens=2)


def test_generate_refuses_an_end_id_outside_the_output_vocabulary(gpt2) -> None:
    for kw in ({}, {"min_new_tokens": 1}, {"num_beams": 2}):
        with pytest.raises(ValueError, match=r"eos_token_id must be ids of the model's 32 output tokens: got \[2, 32\]"):
            generate(gpt2, PROMPT, max_new_tokens=2, eos_token_id=[2, 32], **kw)


def test_generate_refuses_negative_ids(gpt2) -> None:
    with pytest.raises(ValueError, match=r"input_ids must be token ids"):
        generate(gpt2, torch.tensor([[-1, 5]]), max_new_tokens=2)


def test_stream_generate_refuses_beams_before_the_first_step(gpt2) -> None:
    with pytest.raises(ValueError, match="num_beams must be 1"):
        stream_generate(gpt2, PROMPT, max_new_tokens=3, num_beams=2)


def test_stream_generate_refuses_an_argument_generate_does_not_take(gpt2) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'max_length'"):
        stream_generate(gpt2, PROMPT, max_new_tokens=3, max_length=9)


def test_a_model_without_a_cache_is_refused() -> None:
    class NoCache(torch.nn.Module):
        def forward(self, inputs: list) -> torch.Tensor:
            return torch.zeros(1, 1, VOCAB)

    with pytest.raises(ValueError, match="no key/value cache"):
        generate(NoCache(), PROMPT, max_new_tokens=1)


BAD = [
    (dict(num_beams=0), "num_beams"), (dict(num_beams=2, num_return_sequences=3), "num_return_sequences"),
    (dict(num_return_sequences=2), "num_return_sequences"), (dict(top_p=0.0), "top_p"),
    (dict(do_sample=True, temperature=0.0), "temperature"), (dict(do_sample=True, temperature=-1.0), "temperature"),
    (dict(do_sample=True, temperature=math.inf), "temperature"), (dict(top_k=-1), "top_k"),
    (dict(do_sample=True, top_k=VOCAB + 1), "top_k"), (dict(max_new_tokens=0), "max_new_tokens"),
    (dict(max_new_tokens=2.5), "max_new_tokens"), (dict(attention_mask=torch.ones(1, 5, dtype=torch.long)),
                                                    "attention_mask"),
    (dict(attention_mask=torch.zeros(1, 4, dtype=torch.long)), "attention_mask"),
    (dict(attention_mask=torch.full((1, 4), 0.5)), "attention_mask"),
    (dict(repetition_penalty=0.0), "repetition_penalty"), (dict(repetition_penalty=math.nan), "repetition_penalty"),
    (dict(no_repeat_ngram_size=-1), "no_repeat_ngram_size"), (dict(min_new_tokens=-2), "min_new_tokens"),
    (dict(eos_token_id=[]), "eos_token_id"), (dict(eos_token_id="2"), "eos_token_id"),
    (dict(early_stopping="sometimes"), "early_stopping"), (dict(length_penalty=math.nan), "length_penalty"),
    (dict(pad_token_id="0"), "pad_token_id"), (dict(pad_token_id=-1), "pad_token_id"),
    (dict(generator=7), "generator"), (dict(do_sample="yes"), "do_sample"), (dict(use_cache=None), "use_cache"),
]


@pytest.mark.parametrize("kw, name", BAD, ids=lambda v: str(v)[:40])
def test_generate_argument_out_of_range_gets_an_error_naming_it(gpt2, kw: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        generate(gpt2, PROMPT, **{"max_new_tokens": 4, **kw})


def test_generate_text_refuses_a_text_that_is_not_a_str(gpt2) -> None:
    with pytest.raises(TypeError, match="text must be a str"):
        generate_text(gpt2, object(), b"hi", max_new_tokens=2)


# ---- the probe ---------------------------------------------------------------------------------------------------
ODD = st.one_of(st.none(), st.booleans(), st.integers(-3, 40), st.floats(allow_nan=True, allow_infinity=True),
                st.text(max_size=3), st.lists(st.integers(-1, 40), max_size=3))
# each argument with values of its own type and range, and odd values of any type
ARGUMENTS = {
    "max_new_tokens": st.one_of(st.integers(1, 6), ODD), "num_beams": st.one_of(st.integers(1, 3), ODD),
    "num_return_sequences": st.one_of(st.integers(1, 2), ODD), "do_sample": st.one_of(st.booleans(), ODD),
    "temperature": st.one_of(st.floats(0.1, 3), ODD), "top_k": st.one_of(st.none(), st.integers(0, VOCAB), ODD),
    "top_p": st.one_of(st.none(), st.floats(0.05, 1), ODD), "repetition_penalty": st.one_of(st.floats(0.5, 2), ODD),
    "no_repeat_ngram_size": st.one_of(st.integers(0, 3), ODD), "min_new_tokens": st.one_of(st.integers(0, 4), ODD),
    "length_penalty": st.one_of(st.floats(-1, 2), ODD), "early_stopping": st.one_of(st.sampled_from(
        [True, False, "never"]), ODD), "eos_token_id": st.one_of(st.none(), st.integers(0, VOCAB - 1), ODD),
    "pad_token_id": st.one_of(st.none(), st.integers(0, VOCAB - 1), ODD),
}


def _tokens_ok(kw: dict[str, Any]) -> Any:
    """A result of generate: long ids in the vocabulary (or the filler), one row per returned sequence."""
    def check(out: Any) -> bool:
        rows = PROMPT.shape[0] * kw.get("num_return_sequences", 1)
        filler = {kw.get("pad_token_id")} - {None}
        ids = set(out.flatten().tolist()) if isinstance(out, torch.Tensor) else {-1}
        return (isinstance(out, torch.Tensor) and out.dtype == torch.long and out.shape[0] == rows
                and 1 <= out.shape[1] <= kw.get("max_new_tokens", 4) and ids <= set(range(VOCAB)) | filler)

    return check


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kw=st.fixed_dictionaries({}, optional=ARGUMENTS))
def test_probe_generate_classifies_every_outcome(gpt2, kw: dict[str, Any]) -> None:
    kw = {"max_new_tokens": 4, **kw}
    outcome, detail = classify(lambda: generate(gpt2, PROMPT, **kw), _tokens_ok(kw), tuple(kw))
    assert outcome in (OK, CLEAR), (outcome, detail, kw)


@settings(max_examples=100, deadline=None)
@given(top_k=st.one_of(st.none(), st.integers(-2, 7), ODD), top_p=st.one_of(st.none(), st.floats(0.01, 1), ODD))
def test_probe_filter_logits_classifies_every_outcome(top_k: Any, top_p: Any) -> None:
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))

    def check(out: Any) -> bool:  # the kept tokens are the most likely ones, and there is at least one
        kept = torch.isfinite(out[0]).tolist()
        return kept[0] and kept == sorted(kept, reverse=True) and (not top_k or sum(kept) <= top_k)

    outcome, detail = classify(lambda: filter_logits(logits, top_k, top_p), check, ("top_k", "top_p"))
    assert outcome in (OK, CLEAR), (outcome, detail, top_k, top_p)


@settings(max_examples=100, deadline=None)
@given(kw=st.fixed_dictionaries({}, optional={
    "start_id": st.one_of(st.none(), st.integers(0, 3), ODD), "end_id": st.one_of(st.integers(0, 3), ODD),
    "maxlen": st.one_of(st.integers(1, 4), ODD), "minlen": st.one_of(st.integers(0, 3), ODD)}),
    call=st.sampled_from(["beam_search", "random_sample"]), topk=st.one_of(st.integers(1, 4), ODD),
    temperature=st.one_of(st.floats(0.1, 3), ODD), min_ends=st.one_of(st.integers(1, 2), ODD),
    n=st.one_of(st.integers(1, 3), ODD), topp=st.one_of(st.none(), st.floats(0.05, 1), ODD))
def test_probe_autoregressive_decoder_classifies_every_outcome(kw, call, topk, temperature, min_ends, n, topp) -> None:
    def run() -> Any:
        d = Flat(**{"start_id": None, "end_id": 3, "maxlen": 3, **kw})
        if call == "beam_search":
            return [d.beam_search([[1]], topk=topk, temperature=temperature, min_ends=min_ends)]
        return d.random_sample([[1]], n=n, topk=topk, topp=topp, temperature=temperature, min_ends=min_ends)

    def check(out: Any) -> bool:  # 1-D long ids of the 4-token vocabulary, no longer than maxlen (+ the start id)
        longest = kw.get("maxlen", 3) + (kw.get("start_id") is not None)
        return all(isinstance(o, torch.Tensor) and o.dim() == 1 and len(o) <= longest and
                   set(o.tolist()) <= {0, 1, 2, 3} | {kw.get("start_id")} for o in out)

    names = ("start_id", "end_id", "maxlen", "minlen", "topk", "temperature", "min_ends", "n must", "topp")
    outcome, detail = classify(run, check, names)
    assert outcome in (OK, CLEAR), (outcome, detail, kw, call, topk, temperature, min_ends, n, topp)
