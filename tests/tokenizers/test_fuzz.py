"""Hypothesis fuzzing over the whole of Unicode: no exception, sane offsets, and parity with HF.

Strings per CI run: robustness 2,000 examples x 20-40 texts (surrogates included) through four tokenizers,
parity 1,200 examples x 20-40 texts against HF, pairs up to 500 examples x 5-20 pairs: about 100k strings per
run (``pytest -s tests/tokenizers/test_fuzz.py`` prints the count of the current run).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bert4torch.tokenizers import Tokenizer

STRINGS_SEEN = {"n": 0}

# every code point, surrogates too (Python strings can hold them; HF cannot, so parity tests exclude them)
any_char = st.characters(codec=None, exclude_categories=())
no_surrogate = st.characters(exclude_categories=("Cs",))
# mostly-plausible text: ASCII words and punctuation mixed with arbitrary characters, to reach WordPiece splits
mixed_char = st.one_of(st.sampled_from(list("abcdefghij klmnop.,!?'[]MASKCLSEP \u00e9\u4e2d\u6587\t\n")), no_surrogate)
text_any = st.text(any_char, max_size=60)
text_mixed = st.text(mixed_char, max_size=80)
FUZZ = settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


@pytest.fixture(scope="module")
def toks(helpers):
    return {
        "chinese": Tokenizer(helpers.CHINESE_VOCAB),
        "cased": Tokenizer(helpers.CASED_VOCAB, do_lower_case=False),
        "cased-unk": Tokenizer(helpers.CASED_VOCAB, do_lower_case=False, do_tokenize_unk=True),
        "spaces-only": Tokenizer(helpers.CASED_VOCAB, do_basic_tokenize=False),
    }


@pytest.fixture(scope="module")
def hfs(helpers):
    return {
        "chinese": helpers.hf_wordpiece(helpers.CHINESE_VOCAB, lowercase=True),
        "cased": helpers.hf_wordpiece(helpers.CASED_VOCAB, lowercase=False),
    }


def _check_offsets(text: str, ids: list[int], segs: list[int], offs: list[list[int]]) -> None:
    assert len(ids) == len(segs) == len(offs)
    last_start = last_end = 0
    for k, (a, b) in enumerate(offs):
        if k in (0, len(offs) - 1):
            assert (a, b) == (0, 0)  # the added [CLS]/[SEP]
            continue
        assert 0 <= a < b <= len(text)
        assert a >= last_start and b >= last_end  # monotone
        last_start, last_end = a, b


@FUZZ
@given(texts=st.lists(st.one_of(text_any, text_mixed), min_size=20, max_size=40))
def test_no_exception_and_sane_offsets(toks, texts) -> None:
    STRINGS_SEEN["n"] += len(texts)
    for tok in toks.values():
        ids, segs, offs = tok.encode(texts, return_offsets="transformers")
        assert tok.encode(texts)[0] == ids  # the joined-batch ids path
        for k, text in enumerate(texts):
            _check_offsets(text, ids[k], segs[k], offs[k])
            assert tok.encode(text)[0] == ids[k]  # single and batch, ids-only and offsets paths agree
            assert tok.rematch(text, tok.tokenize(text)) == [list(range(a, b)) for a, b in offs[k]]
            tok.decode(ids[k])


@settings(
    max_examples=1200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(texts=st.lists(st.one_of(st.text(no_surrogate, max_size=60), text_mixed), min_size=20, max_size=40))
def test_parity_with_hf_on_random_text(toks, hfs, helpers, texts) -> None:
    STRINGS_SEEN["n"] += len(texts)
    for name, hf in hfs.items():
        _, bad = helpers.mismatches(toks[name], hf, texts)
        assert not bad, "\n".join(bad)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(pairs=st.lists(st.tuples(text_mixed, text_mixed), min_size=5, max_size=20), maxlen=st.integers(3, 40))
def test_pairs_parity_and_truncation_bounds(toks, hfs, helpers, pairs, maxlen) -> None:
    STRINGS_SEEN["n"] += 2 * len(pairs)
    flat = [t for p in pairs for t in p]
    _, bad = helpers.mismatches(toks["cased"], hfs["cased"], flat, pairs=True)
    assert not bad, "\n".join(bad)
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    ids, segs, offs = toks["cased"].encode(firsts, seconds, maxlen=maxlen, return_offsets="transformers")
    for row_ids, row_segs, row_offs in zip(ids, segs, offs):
        assert len(row_ids) <= maxlen and len(row_ids) == len(row_segs) == len(row_offs)


def test_report_strings_seen() -> None:
    # runs last in this module; -s shows the count for the report
    print(f"\nhypothesis strings tokenized in this run: {STRINGS_SEEN['n']}")
