"""Bad inputs: each gets a clear error naming the argument, never an obscure crash or a silently wrong result.

The probe table at the end runs every public entry point on adversarial values and classifies each outcome
(ok / clear error / obscure crash / silent wrong / hang); only the first two pass.
"""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b4t_testing import probe
from b4t_testing.probe import CLEAR, OK
from bert4torch.tokenizers import Tokenizer, sequence_padding

VOCAB = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hi": 5, "!": 6, "there": 7, "##s": 8}


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return Tokenizer(VOCAB)


def test_maxlen_too_small_for_the_special_tokens_raises(tok) -> None:
    with pytest.raises(ValueError, match="maxlen=1 cannot hold the 2"):
        tok.encode("hi there", maxlen=1)
    with pytest.raises(ValueError, match="maxlen=2 cannot hold the 3"):
        tok.encode("hi", "there", maxlen=2)
    assert tok.encode("hi there", maxlen=2)[0] == [2, 3]
    assert tok.encode("hi", "there", maxlen=3)[0] == [2, 3, 3]


def test_vocabulary_without_a_configured_special_token_is_refused_at_construction() -> None:
    vocab = {k: v for k, v in VOCAB.items() if k != "[CLS]"}
    with pytest.raises(ValueError, match="no start token '\\[CLS\\]'.*token_start"):
        Tokenizer(vocab)
    assert Tokenizer(vocab, token_start=None).encode("hi")[0] == [5, 3]


def test_vocabulary_without_mask_or_pad_gets_none_for_them_and_encodes_as_before() -> None:
    # load_vocab(simplified=True, startswith=['[PAD]', '[UNK]', '[CLS]', '[SEP]']) drops [MASK]
    vocab = {k: v for k, v in VOCAB.items() if k != "[MASK]"}
    tok = Tokenizer(vocab)
    assert tok._token_mask is None and tok._token_mask_id is None
    assert "[MASK]" not in tok.never_split
    assert tok.encode("hi there") == Tokenizer(VOCAB).encode("hi there")


def test_duplicate_vocab_lines_keep_the_later_id_like_hf_and_stay_below_vocab_size(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    lines = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi", "there", "hi", "!"]
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ours = Tokenizer(str(path))
    hf = transformers.BertTokenizer(str(path))
    text = "hi there hi!"
    assert ours.encode(text)[0] == hf(text)["input_ids"]
    assert max(ours.encode(text)[0]) < ours.vocab_size == len(lines)
    assert ours.decode(list(range(ours.vocab_size)))  # every id below vocab_size decodes


def test_dict_vocabulary_with_string_ids_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="token_dict must map str tokens to int ids.*int\\(v\\)"):
        Tokenizer({k: str(v) for k, v in VOCAB.items()})


def test_word_sharing_the_sep_id_does_not_split_batches_wrongly() -> None:
    tok = Tokenizer({**VOCAB, "hi": 3})  # a word with the [SEP] id
    texts = ["hi hi there", "there", "hi", "hi there!"]
    assert tok.encode(texts)[0] == [tok.encode(t)[0] for t in texts]
    assert tok.encode(texts, return_offsets="transformers")[2] == [
        tok.encode(t, return_offsets="transformers")[2] for t in texts
    ]


def test_rematch_finds_foreign_tokens_left_to_right_in_the_normalised_text(tok) -> None:
    # the original's rule: each token's stem searched after the previous match; here "hithere" is one [UNK]
    text = "Hi THERE, hithere"
    assert tok.rematch(text, ["[CLS]", "hi", "there", ",", "hit", "##here", "[SEP]"]) == [
        [], [0, 1], [3, 4, 5, 6, 7], [8], [10, 11, 12], [13, 14, 15, 16], []
    ]
    assert tok.rematch(text, ["nowhere"]) == [[]]


@pytest.mark.parametrize("bad", [None, b"hi", 3, 2.5, [[["a"]]], ["a", None], {"a": 1}])
def test_encode_of_a_non_text_is_a_type_error_naming_first_texts(tok, bad) -> None:
    with pytest.raises(TypeError, match="first_texts"):
        tok.encode(bad)


def test_encode_of_a_tensor_is_a_type_error_naming_first_texts(tok) -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="first_texts.*tolist"):
        tok.encode(torch.tensor([1, 2]))


def test_maxlen_of_the_wrong_type_is_a_type_error_naming_maxlen(tok) -> None:
    with pytest.raises(TypeError, match="maxlen must be an int"):
        tok.encode("hi", maxlen="3")


@pytest.mark.parametrize(("ids", "error", "match"), [
    ([2, 99], ValueError, "ids\\[1\\] = 99 is outside the vocabulary"),
    ([-1], ValueError, "ids\\[0\\] = -1 is outside"),
    ([5, 1.0], TypeError, "ids\\[1\\] must be an integer"),
    ([[5]], TypeError, "one sequence"),
    ("hi", TypeError, "ids must be a sequence"),
])
def test_decode_of_a_bad_id_names_it(tok, ids, error, match) -> None:
    with pytest.raises(error, match=match):
        tok.decode(ids)


def test_decode_accepts_numpy_arrays_and_torch_tensors(tok) -> None:
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    ids = [2, 5, 7, 6, 3]
    assert tok.decode(np.array(ids)) == tok.decode(torch.tensor(ids)) == tok.decode(ids) == "hi there!"


# ---- the probe table -------------------------------------------------------------------------------------------
def classify(call, check, names: tuple[str, ...], timeout: float = 10.0) -> str:
    """The shared probe's outcome alone."""
    return probe.classify(call, check, names, timeout)[0]


def _ids_ok(tok: Tokenizer):
    def check(out) -> bool:
        ids, segs = out[0], out[1]
        rows = ids if ids and isinstance(ids[0], list) else [ids]
        return all(0 <= i < tok.vocab_size for row in rows for i in row) and len(ids) == len(segs)

    return check


ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True), st.text(max_size=12),
    st.binary(max_size=4), st.lists(st.one_of(st.text(max_size=4), st.none(), st.integers()), max_size=3),
    st.lists(st.lists(st.text(max_size=3), max_size=2), max_size=2),
)


@settings(max_examples=120, deadline=None)
@given(first=ANYTHING, second=st.one_of(st.none(), ANYTHING), maxlen=st.one_of(st.none(), ANYTHING))
def test_probe_encode_classifies_every_outcome(first, second, maxlen) -> None:
    tok = Tokenizer(VOCAB)
    outcome = classify(
        lambda: tok.encode(first, second, maxlen=maxlen), _ids_ok(tok),
        ("first_texts", "second_texts", "maxlen", "return_offsets"),
    )
    assert outcome in (OK, CLEAR), (outcome, first, second, maxlen)


@settings(max_examples=120, deadline=None)
@given(ids=ANYTHING)
def test_probe_decode_classifies_every_outcome(ids) -> None:
    tok = Tokenizer(VOCAB)
    outcome = classify(lambda: tok.decode(ids), lambda out: isinstance(out, str), ("ids",))
    assert outcome in (OK, CLEAR), (outcome, ids)


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(-5, 5), max_size=5), min_size=1, max_size=4),
    length=st.one_of(st.none(), st.integers(-3, 8), st.floats(allow_nan=False), st.text(max_size=2)),
    mode=st.sampled_from(["post", "pre", "middle"]),
)
def test_probe_sequence_padding_classifies_every_outcome(rows, length, mode) -> None:
    pytest.importorskip("numpy")  # lists pad into numpy arrays (the numpy extra)
    def check(out) -> bool:
        n = max(map(len, rows)) if length is None else length
        return out.shape == (len(rows), n) and all(
            list(got[: min(len(r), n)] if mode == "post" else got[n - min(len(r), n) :]) == r[:n]
            for got, r in zip(out.tolist(), rows)
        )

    outcome = classify(lambda: sequence_padding(rows, length=length, mode=mode), check, ("length", "mode"))
    assert outcome in (OK, CLEAR), (outcome, rows, length, mode)


@pytest.mark.parametrize(
    ("name", "call", "names"),
    [
        ("tokenize None", lambda t: t.tokenize(None), ("text",)),
        ("tokenize maxlen=1", lambda t: t.tokenize("hi there", maxlen=1), ("maxlen",)),
        ("rematch None", lambda t: t.rematch(None, []), ("text",)),
        ("id_to_token -1", lambda t: t.id_to_token(-1), ("ids",)),
        ("truncate_from", lambda t: t.encode("hi", maxlen=3, truncate_from="middle"), ("truncate_from",)),
        ("offsets of tokens", lambda t: t.encode([["hi"]], return_offsets=True), ("return_offsets",)),
        ("batch vs single", lambda t: t.encode(["a"], "b"), ("second_texts",)),
    ],
)
def test_probe_table_of_tokenizer_methods(tok, name, call, names) -> None:
    assert classify(lambda: call(tok), lambda out: True, names) == CLEAR, name


def test_sequence_padding_of_lists_without_numpy_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "numpy", None)  # as in an install without the numpy extra
    with pytest.raises(ImportError, match=r"b4t-tokenizers\[numpy\]"):
        sequence_padding([[1, 2], [3]])
