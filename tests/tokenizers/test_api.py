"""The public surface: names, constructors, encode options, lookups, decode, rematch, vocabularies."""

from __future__ import annotations

import json
import shutil

import pytest
from tokenizers import BertWordPieceTokenizer
from tokenizers import models as hf_models

import bert4torch.tokenizers as T
from bert4torch.tokenizers import (
    BasicTokenizer,
    Tokenizer,
    Trie,
    WordpieceTokenizer,
    convert_to_unicode,
    load_vocab,
    truncate_sequences,
    whitespace_tokenize,
)

EXPECTED_ALL = [
    "BasicTokenizer",
    "SpTokenizer",
    "Tokenizer",
    "TokenizerBase",
    "Trie",
    "WordpieceTokenizer",
    "convert_to_unicode",
    "load_vocab",
    "lowercase_and_normalize",
    "merge_segmentate",
    "parallel_apply",
    "parallel_apply_generator",
    "sequence_padding",
    "text_augmentation",
    "text_segmentate",
    "truncate_sequences",
    "whitespace_tokenize",
]

TEXTS = [
    "Hello World! It's 3.14 o'clock, naïve café.",
    "UNwant\u00e9d,running [MASK] tokens\u4e2d\u6587",
    "A much longer sentence that will certainly need truncation when maxlen is small enough to bite.",
    "",
]


def test_all_is_pinned() -> None:
    assert sorted(T.__all__) == sorted(EXPECTED_ALL)
    for name in EXPECTED_ALL:
        assert getattr(T, name) is not None


@pytest.fixture(scope="module")
def cased(helpers) -> Tokenizer:
    return Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)


@pytest.fixture(scope="module")
def hf_cased(helpers) -> BertWordPieceTokenizer:
    return helpers.hf_wordpiece(helpers.CASED_VOCAB, lowercase=False)


@pytest.fixture(scope="module")
def chinese(helpers) -> Tokenizer:
    return Tokenizer(helpers.CHINESE_VOCAB)


def test_unknown_keyword_names_the_closest(helpers) -> None:
    with pytest.raises(TypeError, match="did you mean 'do_lower_case'"):
        Tokenizer(helpers.CASED_VOCAB, do_lowercase=False)
    with pytest.raises(TypeError, match="did you mean 'token_start'"):
        Tokenizer(helpers.CASED_VOCAB, token_strat="[CLS]")


def test_vocab_file_dict_and_folder_agree(helpers, tmp_path, hf_cased) -> None:
    vocab = load_vocab(helpers.CASED_VOCAB)
    lines = helpers.CASED_VOCAB.read_text(encoding="utf-8").splitlines()
    assert vocab == {t: i for i, t in enumerate(lines)}
    # an HF-style folder whose tokenizer_config.json says not to lower-case
    folder = tmp_path / "hf"
    folder.mkdir()
    shutil.copy(helpers.CASED_VOCAB, folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    from_dict = Tokenizer(vocab, do_lower_case=False)
    from_folder = Tokenizer(folder)
    assert from_folder._do_lower_case is False
    for text in TEXTS:
        expected = hf_cased.encode(text)
        for tok in (from_dict, from_folder):
            ids, segs, offs = tok.encode(text, return_offsets="transformers")
            assert ids == expected.ids and segs == expected.type_ids
            assert [tuple(o) for o in offs] == expected.offsets
    # the explicit argument wins over the folder's config
    assert Tokenizer(folder, do_lower_case=True)._do_lower_case is True


def test_tokenizer_json_is_read(minilm_dir, hf_minilm, tmp_path) -> None:
    shutil.copy(minilm_dir / "tokenizer.json", tmp_path / "tokenizer.json")
    tok = Tokenizer(tmp_path / "tokenizer.json")
    assert tok._do_lower_case is True
    for text in TEXTS:
        assert tok.encode(text)[0] == hf_minilm.encode(text).ids


def test_tokenize_and_lookups_match_hf(cased, hf_cased) -> None:
    for text in TEXTS:
        enc = hf_cased.encode(text)
        tokens = cased.tokenize(text)
        assert tokens == enc.tokens
        assert cased.tokens_to_ids(tokens) == enc.ids
        assert cased.ids_to_tokens(enc.ids) == enc.tokens
        assert [cased.token_to_id(t) for t in tokens] == [cased.id_to_token(i) and i for i in enc.ids]
    assert cased.token_to_id("definitely-not-a-token") == cased._token_unk_id == hf_cased.token_to_id("[UNK]")
    for name in ("pad", "unk", "mask", "start", "end"):
        token = getattr(cased, f"_token_{name}")
        assert getattr(cased, f"_token_{name}_id") == hf_cased.token_to_id(token)


def _reference_truncate(maxlen, index, *seqs):
    # the documented algorithm, written out directly
    seqs = [list(s) for s in seqs]
    while sum(map(len, seqs)) > maxlen:
        i = max(range(len(seqs)), key=lambda k: len(seqs[k]))
        seqs[i].pop(index)
    return seqs


@pytest.mark.parametrize("maxlen", [2, 3, 5, 8, 13, 40])
@pytest.mark.parametrize("truncate_from,index", [("right", -2), ("left", 1), (2, 2)])
def test_maxlen_truncation_follows_the_original_algorithm(cased, maxlen, truncate_from, index) -> None:
    a, b = TEXTS[0], TEXTS[2]
    full_a, full_b = cased.tokenize(a), cased.tokenize(b)
    ids, segs, offs = cased.encode(a, maxlen=maxlen, truncate_from=truncate_from, return_offsets="transformers")
    (ref,) = _reference_truncate(maxlen, index, full_a)
    assert ids == cased.tokens_to_ids(ref) and segs == [0] * len(ref) and len(offs) == len(ids)
    if maxlen >= 3:
        ids, segs = cased.encode(a, b, maxlen=maxlen, truncate_from=truncate_from)
        ra, rb = _reference_truncate(maxlen + 1, index, full_a, full_b)
        assert ids == cased.tokens_to_ids(ra + rb[1:])
        assert segs == [0] * len(ra) + [1] * (len(rb) - 1)
        assert len(ids) <= maxlen
    assert cased.tokenize(b, maxlen=maxlen) == _reference_truncate(maxlen, -2, full_b)[0]


def test_truncation_is_the_same_for_every_item_of_a_batch(cased) -> None:
    # the original raised maxlen in place once per pair, so later items of a batch came out longer
    firsts, seconds = [TEXTS[2]] * 4, [TEXTS[0]] * 4
    ids, segs = cased.encode(firsts, seconds, maxlen=10)
    single = cased.encode(TEXTS[2], TEXTS[0], maxlen=10)
    assert ids == [single[0]] * 4 and segs == [single[1]] * 4


def test_pairs_and_batches_match_hf(cased, hf_cased) -> None:
    ids, segs, offs = cased.encode(TEXTS, TEXTS[::-1], return_offsets="transformers")
    for k, enc in enumerate(hf_cased.encode_batch(list(zip(TEXTS, TEXTS[::-1])))):
        assert ids[k] == enc.ids and segs[k] == enc.type_ids and [tuple(o) for o in offs[k]] == enc.offsets
    # a pattern other than S*E*E keeps the second text's [CLS]
    ids, segs = cased.encode(TEXTS[0], TEXTS[1], pattern="S*ES*E")
    first, second = cased.encode(TEXTS[0])[0], cased.encode(TEXTS[1])[0]
    assert ids == first + second and segs == [0] * len(first) + [1] * len(second)


def test_token_lists_are_accepted(cased) -> None:
    tokens = cased.tokenize(TEXTS[0])
    assert cased.encode([tokens])[0][0] == cased.tokens_to_ids(tokens)


def test_rematch_and_offset_forms_agree(cased) -> None:
    for text in TEXTS:
        ids, _, offs = cased.encode(text, return_offsets="transformers")
        _, _, indices = cased.encode(text, return_offsets=True)
        assert indices == [list(range(a, b)) for a, b in offs]
        tokens = cased.tokenize(text)
        assert cased.rematch(text, tokens) == indices
        # truncated token lists still map (the original raised ValueError on mismatches)
        assert cased.rematch(text, tokens[:3] + tokens[-1:]) == indices[:3] + indices[-1:]
        for (a, b), token in zip(offs, tokens):
            if (a, b) != (0, 0) and token != "[UNK]":
                assert cased.stem(token) == text[a:b]  # cased, no accents stripped: the span is the token


def test_do_tokenize_unk_keeps_one_token_per_unknown_character(cased) -> None:
    vocab = cased._token_dict
    rare = next(c for c in "\u0175\u0177\u01ff\u0111" if c not in vocab and "##" + c not in vocab)
    text = f"ab{rare}cd"
    assert cased.tokenize(text)[1:-1] == ["[UNK]"]  # HF and BERT: the whole word
    per_char = Tokenizer(vocab, do_lower_case=False, do_tokenize_unk=True)
    tokens = per_char.tokenize(text)[1:-1]
    assert tokens.count("[UNK]") == 1 and len(tokens) >= 3
    offs = per_char.encode(text, return_offsets="transformers")[2][1:-1]
    assert offs[tokens.index("[UNK]")] == (2, 3)
    pieces = [text[a:b] if t == "[UNK]" else cased.stem(t) for t, (a, b) in zip(tokens, offs)]
    assert [text[a:b] for a, b in offs] == pieces
    assert "".join(text[a:b] for a, b in offs) == text


def test_added_special_token_matches_hf(helpers) -> None:
    ours = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False, add_special_tokens=["<S>", "Zürich"])
    hf = helpers.hf_wordpiece(helpers.CASED_VOCAB, lowercase=False)
    hf.add_special_tokens(["Zürich"])  # <S> is not in this vocabulary: ours ignores it, HF would add it
    text = "From Zürich to <S>Zürichsee [SEP]"
    enc = hf.encode(text)
    ids, _, offs = ours.encode(text, return_offsets="transformers")
    assert ids == enc.ids and [tuple(o) for o in offs] == enc.offsets


def test_never_split_keeps_vocabulary_tokens_whole(cased) -> None:
    vocab = cased._token_dict
    assert "Zürich" in vocab and "##ich" in vocab
    tok = Tokenizer(vocab, do_lower_case=True, never_split=["Zürich"])
    assert "Zürich" in tok.never_split
    ids, _, offs = tok.encode("ZürichZürich zürich", return_offsets="transformers")
    assert ids[1:3] == [vocab["Zürich"]] * 2 and offs[1:3] == [(0, 6), (6, 12)]
    assert tok.tokenize("zürich")[1:-1] == Tokenizer(vocab).tokenize("zürich")[1:-1]  # only the exact form


def test_token_translate_and_pre_tokenize(cased) -> None:
    vocab = cased._token_dict
    assert {"The", "function", "return"} <= set(vocab)
    tr = Tokenizer(vocab, do_lower_case=False, token_translate={"The": "return"})
    assert tr.tokenize("The function") == ["[CLS]", "return", "function", "[SEP]"]
    assert tr.encode("The function")[0] == cased.tokens_to_ids(["[CLS]", "return", "function", "[SEP]"])
    assert tr.decode(tr.encode("The function")[0]) == "The function"
    # pre_tokenize: a word in the vocabulary stays whole, any other word goes through WordPiece
    assert "Zürich" in vocab and "Zürichsee" not in vocab
    pre = Tokenizer(vocab, do_lower_case=False, pre_tokenize=lambda s: s.split(" "))
    text = "Zürich Zürichsee"
    ids, _, offs = pre.encode(text, return_offsets="transformers")
    expected = [vocab["Zürich"]] + cased.encode("Zürichsee")[0][1:-1]
    assert ids[1:-1] == expected
    assert offs[1] == (0, 6) and offs[2][0] == 7 and offs[-2][1] == len(text)


def test_decode_follows_the_documented_rules(cased, chinese) -> None:
    # punctuation takes no space before it; "' s" re-attaches; "digit. digit" joins; no space after "(" or "/"
    assert cased.decode(cased.encode("it ' s don ' t 3 . 14 ( x ) a / b")[0]) == "it's don't 3.14(x) a/b"
    assert chinese.decode(chinese.encode("中文，好的。English words 中")[0]) == "中文，好的。english words中"
    words = "the quick brown fox jumps over the lazy dog"
    assert cased.decode(cased.encode(words)[0]) == words  # ## pieces re-join
    assert cased.decode([], tokens=["[CLS]", "un", "##aff", "##able", "[SEP]"]) == "unaffable"


def test_docstring_examples() -> None:
    import doctest

    from bert4torch.tokenizers import _tokenizer

    result = doctest.testmod(_tokenizer, raise_on_error=False)
    assert result.attempted >= 1 and result.failed == 0


def test_errors_are_raised_with_reasons(cased, helpers) -> None:
    with pytest.raises(ValueError, match="no unk token '\\[UNK\\]'"):
        Tokenizer({"a": 0}, token_start=None, token_end=None, token_pad=None, token_mask=None)
    with pytest.raises(ValueError, match="return_offsets"):
        cased.encode("x", return_offsets="hf")
    with pytest.raises(ValueError, match="truncate_from"):
        cased.encode("x", maxlen=3, truncate_from="middle")
    with pytest.raises(ValueError, match="differ in length"):
        cased.encode(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="maxlen=0 cannot hold"):
        cased.encode("some words here", maxlen=0)
    with pytest.raises(KeyError, match="not in the vocabulary"):
        load_vocab(helpers.CASED_VOCAB, simplified=True, startswith=["[nope]"])


def test_load_vocab_simplified(minilm_dir) -> None:
    full = load_vocab(minilm_dir / "vocab.txt")
    start = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    new, keep = load_vocab(minilm_dir / "vocab.txt", simplified=True, startswith=start)
    assert list(new)[:5] == start and list(new.values()) == list(range(len(new)))
    inv = {v: k for k, v in full.items()}
    assert [inv[i] for i in keep] == list(new)  # keep_tokens are the old ids in the new order
    assert "[unused1]" not in new and "##ing" in new and "." in new and "a.b" not in full
    dropped = set(full) - set(new)
    assert dropped and all(len(t) > 1 for t in dropped)


def test_basic_and_wordpiece_match_hf_components(cased, minilm_dir) -> None:
    from tokenizers import normalizers, pre_tokenizers

    basic = BasicTokenizer(do_lower_case=True)
    norm = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    for text in TEXTS:
        expected = []
        for piece in text.split("[MASK]"):
            expected.append([w for w, _ in pre.pre_tokenize_str(norm.normalize_str(piece))])
        got = basic.tokenize(text)
        assert got == [w for part in expected[:-1] for w in part + ["[MASK]"]] + expected[-1]
    vocab = load_vocab(minilm_dir / "vocab.txt")
    wp = WordpieceTokenizer(vocab)
    hf_wp = hf_models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100)
    for word in ["unaffable", "running", "tokenization", "x" * 101, "\u00e9\u00e9", "qqqqzzz"]:
        assert wp.tokenize(word) == [t.value for t in hf_wp.tokenize(word)]


def test_small_helpers() -> None:
    assert convert_to_unicode(b"caf\xc3\xa9") == "café" and convert_to_unicode("x") == "x"
    with pytest.raises(TypeError):
        convert_to_unicode(3)  # type: ignore[arg-type]
    assert whitespace_tokenize("  a \t b\n") == ["a", "b"]
    trie = Trie(["[CLS]", "[SEP]", "[SEP]x"])
    assert trie.split("[CLS] hi [SEP]x[SEP]") == ["[CLS]", " hi ", "[SEP]x", "[SEP]"]
    assert Trie.cut_text("abcdef", [0, 2, 2, 4]) == ["ab", "cd", "ef"]
    a, b = [1, 2, 3, 4], [5, 6]
    assert truncate_sequences(4, -1, a, b, []) == [[1, 2], [5, 6]] and a == [1, 2]


def test_word_caches_are_bounded(helpers, monkeypatch) -> None:
    from bert4torch.tokenizers import _tokenizer

    monkeypatch.setattr(_tokenizer, "_WORD_CACHE_MAX", 50)
    tok = Tokenizer(helpers.CASED_VOCAB, do_lower_case=False)
    sizes = []
    for i in range(400):
        text = f"w{i}a w{i}b w{i}c"  # never-repeating words
        tok.encode(text)
        tok.encode(text, return_offsets=True)
        tok.encode([text, text + " x"])
        caches = (tok._word_ids, tok._word_spans, tok._chunk_ids, tok._chunk_spans)
        sizes.append(tuple(map(len, caches)))
    assert max(max(s) for s in sizes) <= 50
    assert tok.encode("w1a w1b")[0] == Tokenizer(helpers.CASED_VOCAB, do_lower_case=False).encode("w1a w1b")[0]


def test_import_is_light() -> None:
    """Importing the tokenizers loads none of the heavy libraries (its time: benchmarks/tokenizers.py; a timed test
    would fail on a fresh environment, where the first import also compiles every module)."""
    import subprocess
    import sys

    code = (
        "import sys; import bert4torch.tokenizers\n"
        "print(sorted({'torch', 'numpy', 'sentencepiece', 'tokenizers'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_rematch_with_special_tokens_typed_in_the_text(cased) -> None:
    # found by fuzzing: the literal [CLS] must not take the added [CLS]'s place
    for text in ["[CLS]", "[SEP]", "[CLS] x [SEP]", "a [SEP][CLS] b"]:
        expected = [list(range(a, b)) for a, b in cased.encode(text, return_offsets="transformers")[2]]
        assert cased.rematch(text, cased.tokenize(text)) == expected
