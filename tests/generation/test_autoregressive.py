"""AutoRegressiveDecoder: beam search against exhaustive search and transformers.generate, sampling filters."""

from __future__ import annotations

import itertools

import pytest
import torch

import bert4torch.generation
from bert4torch.generation import AutoRegressiveDecoder

EXPECTED_ALL = ["AutoRegressiveDecoder", "filter_logits", "generate", "generate_text", "stream_generate", "stream_text"]
VOCAB = 5


def test_all_is_pinned() -> None:
    assert sorted(bert4torch.generation.__all__) == sorted(EXPECTED_ALL)


def bigram_logits(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(VOCAB + 1, VOCAB, generator=g) * 2  # row VOCAB: the distribution before any output


class Bigram(AutoRegressiveDecoder):
    """Next-token logits depend on the last output token only (row VOCAB before the first)."""

    table = bigram_logits()

    @AutoRegressiveDecoder.wraps(default_rtype="logits")
    def predict(self, inputs, output_ids, states):
        (prompt,) = inputs
        assert prompt.shape[0] == output_ids.shape[0]  # every row carries its own inputs
        last = output_ids[:, -1] if output_ids.shape[1] else torch.full((prompt.shape[0],), VOCAB)
        return self.table[last]


def sequence_logprob(seq: tuple[int, ...]) -> float:
    logp = torch.log_softmax(Bigram.table, dim=-1)
    prev, total = VOCAB, 0.0
    for tok in seq:
        total += float(logp[prev, tok])
        prev = tok
    return total


def test_wide_beam_equals_exhaustive_search() -> None:
    maxlen = 3
    decoder = Bigram(start_id=None, end_id=VOCAB + 7, maxlen=maxlen)  # an end that never comes
    found = tuple(decoder.beam_search([[1, 2]], topk=VOCAB ** (maxlen - 1)).tolist())
    best = max(itertools.product(range(VOCAB), repeat=maxlen), key=sequence_logprob)
    assert found == best


def test_beam_of_one_is_greedy() -> None:
    decoder = Bigram(start_id=None, end_id=VOCAB + 7, maxlen=6)
    out = decoder.beam_search([[0]], topk=1).tolist()
    prev, greedy = VOCAB, []
    for _ in range(6):
        prev = int(Bigram.table[prev].argmax())
        greedy.append(prev)
    assert out == greedy


def test_beam_stops_at_end_and_respects_minlen() -> None:
    end = int(Bigram.table[VOCAB].argmax())  # the very first greedy token
    assert Bigram(start_id=None, end_id=end, maxlen=5).beam_search([[0]], topk=1).tolist() == [end]
    longer = Bigram(start_id=None, end_id=end, maxlen=5, minlen=3).beam_search([[0]], topk=2)
    assert len(longer) >= 3


def test_sampling_with_topk_1_is_greedy() -> None:
    decoder = Bigram(start_id=None, end_id=VOCAB + 7, maxlen=4)
    greedy = decoder.beam_search([[0]], topk=1)
    samples = decoder.random_sample([[0]], n=3, topk=1)
    assert all(torch.equal(s, greedy) for s in samples)


def test_topp_keeps_only_the_nucleus_in_proportion() -> None:
    probs = torch.softmax(Bigram.table[VOCAB], dim=-1)
    order = probs.argsort(descending=True)
    cum = probs[order].cumsum(0)
    nucleus = order[: int((cum < 0.7).sum()) + 1]  # smallest prefix whose mass reaches 0.7
    torch.manual_seed(0)
    decoder = Bigram(start_id=None, end_id=VOCAB + 7, maxlen=1)
    first = torch.stack([s[0] for s in decoder.random_sample([[0]], n=4000, topp=0.7)])
    assert set(first.tolist()) <= set(nucleus.tolist())
    expected = probs[nucleus] / probs[nucleus].sum()
    observed = torch.stack([(first == t).float().mean() for t in nucleus])
    assert torch.allclose(observed, expected, atol=0.03)


def test_temperature_on_probas_path() -> None:
    class Probas(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="probas")
        def predict(self, inputs, output_ids, states):
            return torch.tensor([[0.5, 0.3, 0.2]]).expand(output_ids.shape[0], 3)

    d = Probas(start_id=None, end_id=9, maxlen=1)
    p, _ = d.predict([torch.zeros(1, 1)], torch.empty(1, 0, dtype=torch.long), None, 0.5, "probas")
    expected = torch.tensor([0.5, 0.3, 0.2]) ** 2
    assert torch.allclose(p[0], expected / expected.sum())


def test_logits_declared_as_probas_are_read_as_logits_with_one_warning() -> None:
    # the original's gpt/gpt2 examples declare default_rtype='probas' over a model that returned softmax; ours
    # returns logits, which are negative: read as logits, the decoding is the one declared with 'logits'
    class DeclaredProbas(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="probas")
        def predict(self, inputs, output_ids, states):
            last = output_ids[:, -1] if output_ids.shape[1] else torch.full((output_ids.shape[0],), VOCAB)
            return Bigram.table[last]

    declared = DeclaredProbas(start_id=None, end_id=VOCAB + 7, maxlen=5)
    with pytest.warns(UserWarning, match="not probabilities.*read as logits.*default_rtype='logits'"):
        found = declared.beam_search([[0]], topk=3)
    assert torch.equal(found, Bigram(start_id=None, end_id=VOCAB + 7, maxlen=5).beam_search([[0]], topk=3))
    probas, _ = declared.predict([torch.zeros(1, 1)], torch.empty(1, 0, dtype=torch.long), None, 0.5, "probas")
    assert torch.allclose(probas[0], torch.softmax(Bigram.table[VOCAB] / 0.5, dim=-1))


def test_half_precision_probabilities_stay_probabilities() -> None:
    # a float16 softmax over 8,000 tokens sums to 1 only roughly: it must not be read as logits (softmaxed again)
    probas = torch.softmax(torch.randn(2, 8000, generator=torch.Generator().manual_seed(0)) * 3, -1).half()

    class Half(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="probas")
        def predict(self, inputs, output_ids, states):
            return probas

    got, _ = Half(start_id=None, end_id=9, maxlen=1).predict([torch.zeros(2, 1)], torch.empty(2, 0), None, 1,
                                                             "probas")
    assert torch.equal(got, probas.float())


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="default_rtype"):
        AutoRegressiveDecoder.wraps(default_rtype="scores")
    with pytest.raises(ValueError, match="maxlen"):
        AutoRegressiveDecoder(start_id=0, end_id=1, maxlen=0)
    with pytest.raises(NotImplementedError, match="predict"):
        AutoRegressiveDecoder(start_id=0, end_id=1, maxlen=2).beam_search([[1]], topk=1)
    with pytest.raises(TypeError, match="list or tuple"):
        Bigram(start_id=None, end_id=1, maxlen=2).beam_search(torch.tensor([1]), topk=1)


@pytest.mark.slow
def test_greedy_matches_transformers_generate() -> None:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=99, n_positions=64,
                                     bos_token_id=98, eos_token_id=3, pad_token_id=0)
    model = transformers.GPT2LMHeadModel(config).eval()

    class Greedy(AutoRegressiveDecoder):
        @AutoRegressiveDecoder.wraps(default_rtype="logits")
        def predict(self, inputs, output_ids, states):
            return model(torch.cat([inputs[0], output_ids], 1)).logits[:, -1]

    prompt = torch.randint(4, 98, (1, 7))
    for eos in (3, int(model(prompt).logits[0, -1].argmax())):  # one run that ends at once
        ref = model.generate(prompt, max_new_tokens=20, do_sample=False, eos_token_id=eos, pad_token_id=0)[0, 7:]
        ours = Greedy(start_id=None, end_id=eos, maxlen=20).beam_search([prompt[0]], topk=1)
        assert ours.tolist() == ref.tolist()
