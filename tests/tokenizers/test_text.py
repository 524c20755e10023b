"""Text utilities against direct formulas and properties."""

from __future__ import annotations

import random
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.tokenizers import (
    lowercase_and_normalize,
    merge_segmentate,
    text_augmentation,
    text_segmentate,
    truncate_sequences,
)


@settings(max_examples=200, deadline=None)
@given(
    seqs=st.lists(st.lists(st.integers(), max_size=12), min_size=1, max_size=4),
    maxlen=st.integers(0, 30),
    index=st.sampled_from([-1, 0]),
)
def test_truncate_sequences_pops_from_the_longest(seqs, maxlen, index) -> None:
    originals = [list(s) for s in seqs]
    non_empty = [s for s in seqs if s]
    out = truncate_sequences(maxlen, index, *seqs)
    assert len(out) == len(non_empty) and all(o is s for o, s in zip(out, non_empty))  # in place
    # reference: simulate on lengths; the result keeps a prefix (index -1) or a suffix (index 0) of each
    lengths = [len(s) for s in originals if s]
    while sum(lengths) > maxlen:
        lengths[lengths.index(max(lengths))] -= 1
    survivors = [o for o in originals if o]
    expected = [o[: n] if index == -1 else o[len(o) - n :] for o, n in zip(survivors, lengths)]
    assert [list(s) for s in out] == expected


def test_text_segmentate_documented_behaviour() -> None:
    text = "第一句。第二句很长很长很长很长。第三句！第四句"
    pieces = text_segmentate(text, 8, seps="。！", strips="。！")
    assert all(len(p) <= 8 for p in pieces)
    assert "".join(pieces).replace("。", "").replace("！", "") == text.replace("。", "").replace("！", "")
    # no separator fits: hard cuts every maxlen characters, or one long piece without truncate
    assert text_segmentate("abcdefghij", 4, seps="") == ["abcd", "efgh", "ij"]
    assert text_segmentate("abcdefghij", 4, seps="", truncate=False) == ["abcdefghij"]


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.sampled_from(list("ab,.\n")), max_size=80), maxlen=st.integers(2, 20))
def test_text_segmentate_properties(text, maxlen) -> None:
    pieces = text_segmentate(text, maxlen, seps="\n.,")
    assert all(len(p) <= maxlen for p in pieces)
    # with strips=None only outer whitespace of each piece can be lost
    assert "".join(pieces).replace("\n", "") == text.strip().replace("\n", "") or len(text.strip()) > 0


@settings(max_examples=200, deadline=None)
@given(
    pieces=st.lists(st.text(st.sampled_from("abc"), min_size=1, max_size=8), max_size=20),
    maxlen=st.integers(1, 30),
    sep=st.sampled_from(["", "|"]),
)
def test_merge_segmentate_is_greedy(pieces, maxlen, sep) -> None:
    merged = merge_segmentate(pieces, maxlen, sep)
    assert sep.join(merged) == sep.join(pieces)  # nothing lost, order kept
    # partition the pieces the way the output did, then check each group is maximal
    k = 0
    for m in merged:
        group = [pieces[k]]
        k += 1
        while sep.join(group) != m:
            group.append(pieces[k])
            k += 1
        assert len(m) <= maxlen or len(group) == 1
        if k < len(pieces) and len(group[0]) < maxlen:
            assert len(m) + len(sep) + len(pieces[k]) > maxlen


def test_lowercase_and_normalize_matches_the_formula() -> None:
    text = "Ça [MASK] NAÏVE Ørsted [CLS]x"
    expected = "".join(
        c for c in unicodedata.normalize("NFD", "ça [MASK] naïve ørsted [CLS]x") if unicodedata.category(c) != "Mn"
    )
    assert lowercase_and_normalize(text, never_split=["[MASK]", "[CLS]"]) == expected
    assert lowercase_and_normalize("[MASK]") == "[mask]"


def test_text_augmentation_edits() -> None:
    rng = random.Random(0)
    text = "abcdefghij"
    out = text_augmentation(text, noise_dict=["X"], noise_len=3, strategy="insert", allow_dup=False, rng=rng)
    assert isinstance(out, list) and len(out[0]) == 13 and out[0].replace("X", "") == text
    out = text_augmentation([text, text], noise_len=4, strategy="delete", allow_dup=False, rng=rng)
    assert all(len(o) == 6 for o in out)
    out = text_augmentation(text, noise_dict=["Z"], noise_p=0.5, strategy="replace", skip_words="abc", rng=rng)
    assert out[0][:3] == "abc" and out[0].count("Z") >= 1 and len(out[0]) == 10
    assert text_augmentation(text, noise_len=0) == [text]
    try:
        text_augmentation(text, noise_len=1, strategy="insert")
    except ValueError as e:
        assert "noise_dict" in str(e)
    else:
        raise AssertionError("insert without noise_dict must fail")
