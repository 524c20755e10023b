"""The printable-ASCII fast path (single texts and joined batches) equals the plain path on any input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.tokenizers import Tokenizer

ASCII_TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
ANY_TEXT = st.one_of(ASCII_TEXT, st.text(max_size=20))


@pytest.fixture(scope="module")
def pair(helpers):
    fast = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)
    plain = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)
    plain._fast = False  # every text through the general normalise-and-split path
    return fast, plain


@settings(max_examples=200, deadline=None)
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=6))
def test_fast_single_and_batch_encoding_equal_the_plain_path(pair, texts) -> None:
    fast, plain = pair
    for form in (False, True, "transformers"):
        expected = plain.encode(texts, return_offsets=form)
        assert fast.encode(texts, return_offsets=form) == expected
        assert [fast.encode(t, return_offsets=form) for t in texts] == [list(x) for x in zip(*expected)]
