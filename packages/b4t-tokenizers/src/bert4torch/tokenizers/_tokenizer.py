"""The BERT WordPiece ``Tokenizer``: HF ``tokenizers``-exact ids and offsets, in pure Python.

Speed comes from two facts. Words repeat, so each distinct word is split once and remembered (a bounded dict whose
``__missing__`` runs WordPiece, so a hit is one C-level lookup). And one compiled pattern splits a whole normalised
text into words, so Python-level work is per word, not per character.
"""

from __future__ import annotations

import bisect
import functools
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

from ._base import TokenizerBase, _Encoded, _Span, as_id_list, base_options
from ._basic import ASCII_WORD_RE, WORD_RE, BasicTokenizer, get_normalizer, is_cjk_character, is_punctuation
from ._utils import strict_kwargs
from ._vocab import check_vocab, read_vocab
from ._wordpiece import WordpieceTokenizer

_WORD_CACHE_MAX = 1 << 15  # entries per memo (words or chunks); past this it is cleared, so memory stays flat
_SPACE_SPLIT_RE = re.compile(r"[^ ]+")
_TEXT_SEP = "\x00"  # joins the texts of a batch; not printable, so no fast-path text holds it
_TEXT_SEP_JOIN = f" {_TEXT_SEP} "

# The original's list of CJK punctuation after which decode removes the space.
_CJK_PUNCTUATION = (
    "\uff02\uff03\uff04\uff05\uff06\uff07\uff08\uff09\uff0a\uff0b\uff0c\uff0d\uff0f\uff1a\uff1b\uff1c\uff1d\uff1e"
    "\uff20\uff3b\uff3c\uff3d\uff3e\uff3f\uff40\uff5b\uff5c\uff5d\uff5e\uff5f\uff60\uff62\uff63\uff64\u3000\u3001"
    "\u3003\u3008\u3009\u300a\u300b\u300c\u300d\u300e\u300f\u3010\u3011\u3014\u3015\u3016\u3017\u3018\u3019\u301a"
    "\u301b\u301c\u301d\u301e\u301f\u3030\u303e\u303f\u2013\u2014\u2018\u2019\u201b\u201c\u201d\u201e\u201f\u2026"
    "\u2027\ufe4f\ufe51\ufe54\u00b7\uff01\uff1f\uff61\u3002"
)
_DECODE_PUNCT_RE = re.compile("(%s) " % "|".join(re.escape(p) for p in _CJK_PUNCTUATION + "+-/={(<["))
_DECODE_SPACES_RE = re.compile(" +")
_DECODE_CONTRACTION_RE = re.compile(r"' (re|m|s|t|ve|d|ll) ")
_DECODE_DECIMAL_RE = re.compile(r"(\d\.) (\d)")


# Offsets of ASCII text come from a shared table: _span_table()[start][length] is the tuple (start, start + length),
# made once. A text's offsets then allocate no tuple per token, and the table's tuples are long-lived, so the
# garbage collector stops walking millions of young ones (measured: the single-text offsets path went from 3.5x
# to 1.5x the cost of ids). Texts longer than _SPAN_ROWS characters and longer pieces use fresh tuples.
_SPAN_ROWS, _SPAN_LENGTHS = 1024, 32
_SPANS: list[list[_Span]] = []


def _span_table() -> list[list[_Span]]:
    if not _SPANS:  # built on first use (about 2 MB, a few ms); two threads building it build the same table
        ints = list(range(_SPAN_ROWS + _SPAN_LENGTHS))
        _SPANS[:] = [[(ints[p], ints[p + k]) for k in range(_SPAN_LENGTHS)] for p in range(_SPAN_ROWS)]
    return _SPANS


def _as_list(tokens: str | Sequence[str] | None) -> list[str]:
    if tokens is None:
        return []
    return [tokens] if isinstance(tokens, str) else list(tokens)


class _WordIds(dict):  # type: ignore[type-arg]
    """``word -> tuple of ids``; a miss runs WordPiece once."""

    __slots__ = ("split",)

    def __init__(self, split: Callable[[str], tuple[Any, ...]]) -> None:
        super().__init__()
        self.split = split

    def __missing__(self, word: str) -> tuple[Any, ...]:
        if len(self) >= _WORD_CACHE_MAX:
            self.clear()
        value = self[word] = self.split(word)
        return value


class Tokenizer(TokenizerBase):
    """BERT's WordPiece tokenizer.

    Produces the same ids, token types and offsets as HF ``tokenizers``' ``BertWordPieceTokenizer`` (and the
    ``tokenizer.json`` of BERT checkpoints), in pure Python.

    Args:
        token_dict: ``token -> id``, a ``vocab.txt``, a ``tokenizer.json``, or an HF tokenizer folder (its
            ``tokenizer_config.json`` supplies ``do_lower_case``/``strip_accents`` unless given here).
        do_lower_case: lower-case the text; None means True unless the folder's config says otherwise.
        do_basic_tokenize: split on punctuation and CJK characters before WordPiece (else on spaces only).
        do_tokenize_unk: an unknown character becomes one ``[UNK]`` instead of the whole word becoming ``[UNK]``.
        strip_accents: None follows ``do_lower_case`` (HF's rule).
        max_input_chars_per_word: longer words become ``[UNK]``.
        never_split: more vocabulary tokens kept whole when they appear in the text (like ``add_special_tokens``;
            the special tokens are always in ``self.never_split``).
        token_start, token_end, token_unk, token_pad, token_mask, add_special_tokens, pre_tokenize,
            token_translate: see :class:`TokenizerBase`.

    Raises:
        TypeError: ``token_dict`` maps a token to something other than an int id.
        ValueError: a configured special token (``token_start`` etc.) is not in the vocabulary.

    Example:
        >>> tok = Tokenizer({"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hi": 5, "!": 6})
        >>> tok.encode("Hi!")
        [[2, 5, 6, 3], [0, 0, 0, 0]]
    """

    @strict_kwargs
    def __init__(
        self,
        token_dict: Mapping[str, int] | str | os.PathLike[str],
        do_lower_case: bool | None = None,
        do_basic_tokenize: bool = True,
        do_tokenize_unk: bool = False,
        *,
        strip_accents: bool | None = None,
        max_input_chars_per_word: int = 100,
        never_split: Sequence[str] | None = None,
        token_start: str | None = "[CLS]",
        token_end: str | None = "[SEP]",
        token_unk: str | None = "[UNK]",
        token_pad: str | None = "[PAD]",
        token_mask: str | None = "[MASK]",
        add_special_tokens: str | Sequence[str] | None = None,
        pre_tokenize: Callable[[str], Iterable[str]] | None = None,
        token_translate: Mapping[str, str] | None = None,
    ) -> None:
        options = base_options(locals())
        options["add_special_tokens"] = [*_as_list(add_special_tokens), *(never_split or ())]
        super().__init__(**options)
        if token_unk is None:
            raise ValueError("Tokenizer needs an unknown token for words WordPiece cannot split: set token_unk")
        vocab, settings = (check_vocab(token_dict), {}) if isinstance(token_dict, Mapping) else read_vocab(token_dict)
        self._check_specials(vocab.__contains__)
        if do_lower_case is None:
            do_lower_case = bool(settings.get("do_lower_case", True))
        if strip_accents is None and settings.get("strip_accents") is not None:
            strip_accents = bool(settings["strip_accents"])
        self._token_dict = vocab
        self._token_dict_inv = {v: k for k, v in vocab.items()}
        # the largest id + 1: a vocab.txt with a repeated line keeps the later line's id (HF's rule), so ids run
        # up to the line count, which is the embedding's size
        self._vocab_size = max(vocab.values(), default=-1) + 1
        self._do_lower_case = do_lower_case
        self.do_basic_tokenize = do_basic_tokenize
        self._strip_accents = do_lower_case if strip_accents is None else strip_accents
        self.wordpiece_tokenizer = WordpieceTokenizer(
            vocab, unk_token=token_unk, max_input_chars_per_word=max_input_chars_per_word,
            do_tokenize_unk=do_tokenize_unk,
        )
        self._unk_id = vocab[token_unk]
        self._set_special_ids()
        self._setup_encoding()

    def _setup_encoding(self) -> None:
        """The regexes, translation table and memos that encoding reads."""
        vocab = self._token_dict
        self._norm = get_normalizer(self._do_lower_case, self._strip_accents)
        self._word_re = WORD_RE if self.do_basic_tokenize else _SPACE_SPLIT_RE
        self._ascii_word_re = ASCII_WORD_RE if self.do_basic_tokenize else _SPACE_SPLIT_RE
        # Special tokens are matched on the raw text before normalisation (HF's added tokens with
        # normalized=False): only those the vocabulary holds, longest first so the regex takes the longest match.
        specials = sorted((t for t in self.never_split if t in vocab), key=len, reverse=True)
        self._specials = specials
        self._special_re = re.compile("|".join(map(re.escape, specials))) if specials else None
        self._special_first = "".join(sorted({t[0] for t in specials}))
        self._special_first_ascii = any(c.isascii() for c in self._special_first)
        # token_translate acts on tokens; precompute it on ids for the fast path.
        self._id_translate = {vocab[k]: self.token_to_id(v) for k, v in self._token_translate.items() if k in vocab}
        self._fast = (
            self._pre_tokenize is None
            and not self._id_translate
            and self._token_start_id is not None
            and self._token_end_id is not None
        )
        self._fast_start, self._fast_end = self._token_start_id, self._token_end_id
        self._word_ids = _WordIds(self._split_ids)
        self._word_spans = _WordIds(self._split_spans)
        # Printable ASCII text has no whitespace but spaces, so str.split() (C, ~10x faster than the word regex)
        # cuts it into chunks that never straddle a word; chunks repeat about as much as words, so they are
        # memoised too. Not used for other text: a Chinese sentence is one chunk that never repeats.
        self._chunk_ids = _WordIds(self._split_chunk_ids)
        self._chunk_spans = _WordIds(self._split_chunk_spans)

    @functools.cached_property
    def basic_tokenizer(self) -> BasicTokenizer:
        """A :class:`BasicTokenizer` with this tokenizer's settings (for user code; encoding does not use it)."""
        return BasicTokenizer(self._do_lower_case, self.never_split, strip_accents=self._strip_accents)

    # ---- WordPiece memo entries ----------------------------------------------------------------------------------
    def _split_ids(self, word: str) -> tuple[int, ...]:
        vocab, unk = self._token_dict, self._unk_id
        return tuple(vocab.get(p, unk) for p, _, _ in self.wordpiece_tokenizer.split_word(word))

    def _split_spans(self, word: str) -> tuple[tuple[int, ...], int | tuple[tuple[int, int], ...]]:
        # (ids, rel) where rel is the word length when the word is one piece (the common case, one int to add),
        # else the (start, end) of each piece inside the word.
        vocab, unk = self._token_dict, self._unk_id
        pieces = self.wordpiece_tokenizer.split_word(word)
        ids = tuple(vocab.get(p, unk) for p, _, _ in pieces)
        if len(pieces) == 1 and pieces[0][1] == 0 and pieces[0][2] == len(word):
            return ids, len(word)
        return ids, tuple((a, b) for _, a, b in pieces)

    def _split_chunk_ids(self, chunk: str) -> tuple[Any, ...]:
        # A chunk is a run of non-space characters of printable ASCII text (a word with its punctuation).
        if chunk == _TEXT_SEP:  # in a joined batch: end of one text, a boundary mark, start of the next
            return (self._fast_end, None, self._fast_start)
        return tuple(chain.from_iterable(map(self._word_ids.__getitem__, self._ascii_word_re.findall(chunk))))

    def _split_chunk_spans(self, chunk: str) -> tuple[tuple[int, ...], int | tuple[tuple[int, int], ...] | None]:
        # (ids, rel): rel is the chunk length when the chunk is one token (most are), else each token's span;
        # None marks the text separator of a joined batch
        if chunk == _TEXT_SEP:
            return (), None
        ids: list[int] = []
        spans: list[_Span] = []
        self._spans_into(chunk, self._ascii_word_re, ids, spans)
        if len(spans) == 1 and spans[0] == (0, len(chunk)):
            return tuple(ids), len(chunk)
        return tuple(ids), tuple(spans)

    # ---- the printable-ASCII fast path: one text, or a batch joined into one text -----------------------------
    def _fast_norm(self, text: Any) -> str | None:
        """The normalised text when ``text`` may take the fast path (printable ASCII, no special token), else None.

        Such text has no whitespace but spaces and lower-casing is its only normalisation, which keeps positions.
        """
        if (
            self._fast
            and text.__class__ is str
            and text.isascii()
            and text.isprintable()
            and not (self._special_first_ascii and self._has_special(text))
        ):
            return text.lower() if self._do_lower_case else text
        return None

    def _ascii_ids(self, norm: str) -> list[Any]:
        """Ids of fast-path text with start/end tokens (a joined batch gives ``None`` between texts)."""
        return [self._fast_start, *chain.from_iterable(map(self._chunk_ids.__getitem__, norm.split())), self._fast_end]

    def _ascii_encoded(self, norm: str, done: list[_Encoded] | None = None) -> _Encoded:
        """Ids and spans of fast-path text with start/end tokens (see ``_ascii_spans`` for ``done``)."""
        ids, spans = self._ascii_spans(norm, [self._fast_start], [(0, 0)], done)
        ids.append(self._fast_end)
        spans.append((0, 0))
        return ids, spans

    def _with_specials(self, text: Any, with_offsets: bool) -> _Encoded:
        norm = self._fast_norm(text)
        if norm is not None:
            return self._ascii_encoded(norm) if with_offsets else (self._ascii_ids(norm), None)
        return super()._with_specials(text, with_offsets)

    def _encode_batch(self, texts: Sequence[Any], with_offsets: bool) -> list[_Encoded]:
        """Every text of a batch; the fast-path texts are joined and encoded as one text, the others one by one.

        Joining removes the per-text Python overhead that dominates short texts. The texts are joined with
        `` \x00 `` (which none of them holds: it is not printable); that chunk closes one text and opens the next.
        """
        fast_norm = self._fast_norm
        norms = [fast_norm(t) for t in texts]
        if with_offsets:  # spans come from a table of _SPAN_ROWS rows: longer texts go one by one
            norms = [n if n is not None and len(n) < _SPAN_ROWS else None for n in norms]
        easy = [n for n in norms if n is not None]
        out: list[_Encoded] = []
        if easy and with_offsets:
            out.append(self._ascii_encoded(_TEXT_SEP_JOIN.join(easy), done=out))
        elif easy:
            flat = self._ascii_ids(_TEXT_SEP_JOIN.join(easy))
            index = flat.index
            pos = 0
            for _ in range(len(easy) - 1):
                stop = index(None, pos)
                out.append((flat[pos:stop], None))
                pos = stop + 1
            out.append((flat[pos:], None))
        if len(easy) == len(texts):
            return out
        rest = iter(out)
        with_specials = super()._with_specials
        return [next(rest) if n is not None else with_specials(t, with_offsets) for t, n in zip(texts, norms)]

    def _ascii_spans(
        self, norm: str, ids: list[int], spans: list[_Span], done: list[_Encoded] | None = None
    ) -> tuple[list[int], list[_Span]]:
        """``_spans_into`` for fast-path text, one cached chunk (word + punctuation) at a time.

        In a joined batch (``done`` given, each text shorter than the span table) a ``\x00`` chunk ends a text:
        its lists, closed with the end token, go to ``done`` and new ones open with the start token. Returns the
        lists still open.
        """
        if done is None and len(norm) >= _SPAN_ROWS:  # beyond the table: word by word, the general path
            self._spans_into(norm, self._ascii_word_re, ids, spans)
            return ids, spans
        add_span = spans.append
        get = self._chunk_spans.__getitem__
        table = _span_table()
        pos = 0
        # split(" ") keeps an empty chunk per extra space, so positions follow from lengths alone
        for chunk in norm.split(" "):
            chunk_ids, rel = get(chunk)
            if rel.__class__ is int:
                ids += chunk_ids
                try:
                    add_span(table[pos][rel])  # type: ignore[index]
                except IndexError:  # a piece longer than the table's rows (an [UNK] word)
                    add_span((pos, pos + rel))  # type: ignore[operator]
                pos += rel + 1  # type: ignore[operator]
            elif rel is None:  # the text separator of a joined batch: close this text, open the next
                ids.append(self._fast_end)
                add_span((0, 0))
                done.append((ids, spans))  # type: ignore[union-attr]
                ids, spans = [self._fast_start], [(0, 0)]
                add_span = spans.append
                pos = 0
            else:
                if rel:
                    ids += chunk_ids
                    for a, b in rel:  # type: ignore[union-attr]
                        try:
                            add_span(table[pos + a][b - a])  # type: ignore[index]
                        except IndexError:
                            add_span((pos + a, pos + b))
                pos += len(chunk) + 1
        return ids, spans

    # ---- core ---------------------------------------------------------------------------------------------------
    def _has_special(self, text: str) -> bool:
        for ch in self._special_first:
            if ch in text:
                return self._special_re.search(text) is not None  # type: ignore[union-attr]
        return False

    def _segment(self, text: str, base: int, with_offsets: bool) -> tuple[list[int], list[_Span] | None]:
        """Ids (and spans shifted by ``base``) of a text holding no special token."""
        if text.isascii() and text.isprintable():
            # printable ASCII: lower-casing is the only change and keeps positions
            norm, index, word_re = (text.lower() if self._do_lower_case else text), None, self._ascii_word_re
        else:
            norm, index = self._norm.normalize(text)
            word_re = self._word_re
        if not with_offsets:
            return list(chain.from_iterable(map(self._word_ids.__getitem__, word_re.findall(norm)))), None
        ids: list[int] = []
        spans: list[_Span] = []
        self._spans_into(norm, word_re, ids, spans)
        if index is not None:
            spans = [(index[a] + base, index[b - 1] + 1 + base) for a, b in spans]
        elif base:
            spans = [(a + base, b + base) for a, b in spans]
        return ids, spans

    def _spans_into(self, norm: str, word_re: re.Pattern[str], ids: list[int], spans: list[_Span]) -> None:
        """Append the ids and spans (in ``norm`` coordinates) of normalised text to ``ids`` and ``spans``."""
        add_span = spans.append
        get = self._word_spans.__getitem__
        find = norm.find
        pos = 0
        # Words are separated by nothing but spaces after normalisation, so each word's start is the first
        # occurrence at or after the previous word's end: str.find is cheaper than a match object per word.
        for word in word_re.findall(norm):
            word_ids, rel = get(word)
            ids += word_ids
            start = find(word, pos)
            if rel.__class__ is int:
                pos = start + rel  # type: ignore[operator]
                add_span((start, pos))
            else:
                for a, b in rel:  # type: ignore[union-attr]
                    add_span((start + a, start + b))
                pos = start + len(word)

    def _encode_body(
        self, text: str, with_offsets: bool, translate: bool = True, pre_tokenize: bool = True
    ) -> tuple[list[int], list[_Span] | None]:
        if pre_tokenize and self._pre_tokenize is not None:
            ids, spans = self._encode_pre_tokenized(text, with_offsets)
        elif self._special_re is not None and self._has_special(text):
            ids, spans = [], [] if with_offsets else None
            pos = 0
            vocab = self._token_dict
            for m in self._special_re.finditer(text):
                seg_ids, seg_spans = self._segment(text[pos : m.start()], pos, with_offsets)
                ids += seg_ids
                ids.append(vocab[m.group()])
                if spans is not None:
                    spans += seg_spans  # type: ignore[operator]
                    spans.append(m.span())
                pos = m.end()
            seg_ids, seg_spans = self._segment(text[pos:], pos, with_offsets)
            ids += seg_ids
            if spans is not None:
                spans += seg_spans  # type: ignore[operator]
        else:
            ids, spans = self._segment(text, 0, with_offsets)
        if translate and self._id_translate:
            tr = self._id_translate
            ids = [tr.get(i, i) for i in ids]
        return ids, spans

    def _encode_pre_tokenized(self, text: str, with_offsets: bool) -> tuple[list[int], list[_Span] | None]:
        # A pre-tokenized word found in the vocabulary (after normalisation) is one token; other words go through
        # the normal path. Words are located in the text left to right to give offsets.
        ids: list[int] = []
        spans: list[_Span] | None = [] if with_offsets else None
        pos = 0
        for word in self._pre_tokenize(text):  # type: ignore[misc]
            if not word:
                continue
            found = text.find(word, pos)
            start = found if found >= 0 else pos
            norm = self._norm.normalize(word)[0].strip()
            if norm in self._token_dict or word in self._specials:
                ids.append(self._token_dict.get(norm, self._token_dict.get(word, self._unk_id)))
                if spans is not None:
                    spans.append((start, start + len(word)))
            else:
                sub_ids, sub_spans = self._encode_body(word, with_offsets, translate=False, pre_tokenize=False)
                ids += sub_ids
                if spans is not None:
                    spans += [(a + start, b + start) for a, b in sub_spans]  # type: ignore[union-attr]
            if found >= 0:
                pos = found + len(word)
        return ids, spans

    # ---- public -------------------------------------------------------------------------------------------------
    def encode_ids(self, text: str) -> list[int]:
        """Ids of one text with start/end tokens (the fastest path; ``encode(text)[0]``)."""
        return self._with_specials(text, False)[0]

    def _tokenize(self, text: str) -> list[str]:
        # untranslated tokens: TokenizerBase.tokenize applies token_translate on the strings (the translated
        # token need not be in the vocabulary)
        inv = self._token_dict_inv
        return [inv[i] for i in self._encode_body(text, False, translate=False)[0]]

    def tokenize(self, text: str, maxlen: int | None = None) -> list[str]:
        """Tokens of ``text`` with ``[CLS]``/``[SEP]``; truncated to ``maxlen`` before ``[SEP]``."""
        return super().tokenize(text, maxlen)

    def token_to_id(self, token: str) -> int:
        """Id of ``token``; the ``[UNK]`` id when absent."""
        return self._token_dict.get(token, self._unk_id)  # type: ignore[return-value]

    def id_to_token(self, id: int) -> str:  # noqa: A002 - the original's parameter name
        """Token of ``id`` (the unknown token for an id no token holds: the earlier line of a repeated one).

        Raises:
            ValueError: ``id`` is outside ``[0, vocab_size)``.
        """
        token = self._token_dict_inv.get(id)
        if token is None:
            as_id_list([id], self._vocab_size)  # raises the range error
            token = self._token_unk  # type: ignore[assignment]
        return token  # type: ignore[return-value]

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return self._vocab_size

    @staticmethod
    def stem(token: str) -> str:
        """The token without a leading ``##``."""
        return token[2:] if token[:2] == "##" else token

    @staticmethod
    def _is_special(token: str) -> bool:
        return bool(token) and token[0] == "[" and token[-1] == "]"

    def decode(self, ids: Sequence[int], tokens: Sequence[str] | None = None) -> str:
        """Readable text: special tokens dropped, ``##`` pieces joined, spacing tidied.

        Args:
            ids: token ids: a list, or a 1-D numpy array or torch tensor (as generation returns them).
            tokens: the tokens instead of ids, if already at hand.

        Raises:
            TypeError: ``ids`` is not one sequence of integers.
            ValueError: an id is negative or not below ``vocab_size``.
        """
        if tokens is None:
            inv, unk = self._token_dict_inv, self._token_unk
            tokens = [inv.get(i, unk) for i in as_id_list(ids, self._vocab_size)]  # type: ignore[misc]
        tokens = list(tokens)
        inv_tr = self._token_translate_inv
        if inv_tr:
            tokens = [inv_tr.get(t) or t for t in tokens]
        return _join_tokens([t for t in tokens if not self._is_special(t)])

    def rematch(self, text: str, tokens: Sequence[str]) -> list[list[int]]:
        """Original character indices covered by each token of ``tokens`` (``[]`` for special tokens).

        ``tokens`` is normally ``tokenize(text)`` (possibly truncated); NER code maps labelled character spans to
        tokens with it. Each token is looked for left to right: first among this tokenizer's own pieces of
        ``text`` (so for its own tokens the answer equals the ``return_offsets=True`` output, ``[UNK]`` included),
        else its stem (without ``##``) is searched in the normalised text after the previous match, as the
        original does, which serves whole words and other tokenizers' tokens. A token found nowhere gets ``[]``.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        body_ids, spans = self._encode_body(text, True, translate=False)
        own = self._token_dict_inv
        body = self._translate([own.get(i, "") for i in body_ids])
        tokens = list(tokens)
        # an outer start/end token is the added one (a literal "[CLS]" typed in the text sits inside them)
        lead = int(bool(tokens) and self._token_start is not None and tokens[0] == self._token_start)
        trail = int(len(tokens) > lead and self._token_end is not None and tokens[-1] == self._token_end)
        norm, index = self._norm.normalize(text)
        out: list[list[int]] = [[] for _ in range(lead)]
        j, pos = 0, 0  # next own piece; original index where the next token may start
        for token in tokens[lead : len(tokens) - trail]:
            k = _next_own(body, spans, j, token, self._is_special(token))  # type: ignore[arg-type]
            if k >= 0:
                start, end = spans[k]  # type: ignore[index]
                chars = list(range(start, end))
                j = k + 1
            else:
                chars = _search(norm, index, self.stem(token), pos) if not self._is_special(token) else []
                while chars and j < len(body) and spans[j][0] < chars[-1] + 1:  # type: ignore[index]
                    j += 1
            out.append(chars)
            if chars:
                pos = chars[-1] + 1
        out.extend([] for _ in range(trail))
        return out


def _next_own(body: list[str], spans: list[_Span], j: int, token: str, special: bool) -> int:
    """Index of ``token`` among the own pieces from ``j`` (a special token only at ``j``), or -1."""
    if j < len(body) and body[j] == token:
        return j
    if special:
        return -1
    return next((k for k in range(j, len(body)) if body[k] == token), -1)


def _search(norm: str, index: list[int] | None, stem: str, pos: int) -> list[int]:
    """Original indices of the first occurrence of ``stem`` in ``norm`` at or after original index ``pos``."""
    if not stem:
        return []
    start = bisect.bisect_left(index, pos) if index is not None else pos
    found = norm.find(stem, start)
    if found < 0:
        return []
    if index is None:
        return list(range(found, found + len(stem)))
    return list(dict.fromkeys(index[found : found + len(stem)]))


def _join_tokens(tokens: list[str]) -> str:
    """Tokens (special ones already dropped) as text: the original's spacing rules."""
    parts: list[str] = []
    last = ""  # last character written, for the no-space-after-CJK rule
    for i, token in enumerate(tokens):
        if token[:2] == "##":
            parts.append(token[2:])
        elif len(token) == 1 and is_cjk_character(token):
            parts.append(token)
        elif len(token) == 1 and is_punctuation(token):
            parts.append(token + " ")
        elif i > 0 and last and is_cjk_character(last):
            parts.append(token)
        else:
            parts.append(" " + token)
        if parts[-1]:
            last = parts[-1][-1]
    text = _DECODE_SPACES_RE.sub(" ", "".join(parts))
    text = _DECODE_CONTRACTION_RE.sub(r"'\1 ", text)
    text = _DECODE_PUNCT_RE.sub(r"\1", text)
    text = _DECODE_DECIMAL_RE.sub(r"\1\2", text)
    return text.strip()
