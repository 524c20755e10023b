"""SpTokenizer against sentencepiece itself, on a model trained inside the test from real English text."""

from __future__ import annotations

import pytest

spm = pytest.importorskip("sentencepiece")

from bert4torch.tokenizers import SpTokenizer  # noqa: E402


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory, corpus):
    lines = [line for line in corpus.english_lines()[:6000] if line.isascii()]
    path = tmp_path_factory.mktemp("sp") / "en"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_prefix=str(path), vocab_size=800, model_type="unigram",
        pad_id=3, bos_id=-1, eos_id=2, unk_id=0, user_defined_symbols=["[MASK]"], minloglevel=2,
        character_coverage=1.0,
    )
    return str(path) + ".model", lines


def test_ids_equal_sentencepiece(sp_model) -> None:
    model, lines = sp_model
    ref = spm.SentencePieceProcessor(model_file=model)
    tok = SpTokenizer(model, token_start=None, token_end="</s>")
    for line in lines[:2000] + ["", "   spaced    out  ", "naïve café ``quoted''"]:
        ids, segs = tok.encode(line)
        expected = ref.encode(tok.preprocess_text(line)) + [ref.piece_to_id("</s>")]
        assert ids == expected and segs == [0] * len(ids)
        assert tok.tokenize(line) == ref.encode(tok.preprocess_text(line), out_type=str) + ["</s>"]
    assert tok._token_end_id == 2 and tok._token_pad_id == 3 and tok._token_unk_id == 0


def test_decode_round_trips(sp_model) -> None:
    model, lines = sp_model
    tok = SpTokenizer(model, token_start=None, token_end="</s>")
    for line in lines[:2000]:
        ids = tok.encode(line)[0]
        assert tok.decode(ids) == tok.preprocess_text(line)  # </s> is a control piece: dropped
    # lower-casing and accents
    low = SpTokenizer(model, do_lower_case=True, token_start=None, token_end=None)
    assert low.preprocess_text("  Naïve   CAFÉ ``x'' ") == 'naive cafe "x"'


def test_pairs_batches_and_errors(sp_model) -> None:
    model, lines = sp_model
    tok = SpTokenizer(model, token_start=None, token_end="</s>")
    ids, segs = tok.encode(lines[:3], lines[3:6], maxlen=12)
    assert all(len(r) <= 12 and len(r) == len(s) for r, s in zip(ids, segs))
    with pytest.raises(NotImplementedError, match="offsets"):
        tok.encode(lines[0], return_offsets=True)
    with pytest.raises(TypeError, match="did you mean 'keep_accents'"):
        SpTokenizer(model, keep_accent=True)
