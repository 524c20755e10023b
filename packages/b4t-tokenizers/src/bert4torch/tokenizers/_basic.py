"""BERT normalisation and pre-tokenisation, matching HF ``tokenizers``' BertNormalizer + BertPreTokenizer.

Text goes through: clean (drop control/format characters, map whitespace to a space), strip accents (NFD minus
nonspacing marks; on by default when lower-casing, as in HF), lower-case (character by character, as HF does: no
final-sigma rule), then splits into words on spaces, punctuation and CJK ideographs. Every step maps each input
character to zero or more output characters, which is what lets offsets point back into the original text.

The character classes come from ``_chartables`` (generated from the reference, see tools/tokenizers_make_tables.py).
Per-character results are memoised in a bounded dict, so a text costs one dict lookup per character.
"""

from __future__ import annotations

import re
import unicodedata

from . import _chartables as _T

# Surrogates cannot come from decoded text but can from str built by hand; treat them like control characters.
_REMOVED_RE = re.compile(rf"[{_T.REMOVED}\ud800-\udfff]")
_SPACE_RE = re.compile(rf"[{_T.SPACES}]")
_PUNCT_RE = re.compile(rf"[{_T.PUNCTUATION}]")
_CJK_RE = re.compile(rf"[{_T.CJK}]")
# One pass over normalised text gives the words: a CJK ideograph or a punctuation character alone, else a run of
# anything but space/CJK/punctuation. The stdlib ``re`` with generated classes beats a per-character loop ~20x.
# The run alternative comes first because most words are runs.
WORD_RE = re.compile(rf"[^ {_T.CJK}{_T.PUNCTUATION}]+|[{_T.CJK}{_T.PUNCTUATION}]")
# The same split for printable ASCII text, with the ASCII slice of the classes: small classes make the regex
# engine ~2.7x faster on English text than the full Unicode classes.
_ASCII_PUNCT = "".join(chr(o) for o in range(32, 127) if _PUNCT_RE.match(chr(o)))
ASCII_WORD_RE = re.compile(f"[^ {re.escape(_ASCII_PUNCT)}]+|[{re.escape(_ASCII_PUNCT)}]")

_CHAR_CACHE_MAX = 1 << 16  # distinct characters remembered per normaliser; cleared past this (memory stays flat)


def normalize_char(ch: str, lowercase: bool, strip_accents: bool) -> str:
    """Normalise one character the way HF's BertNormalizer does (without CJK padding)."""
    if _REMOVED_RE.match(ch):
        return ""
    if _SPACE_RE.match(ch):
        return " "
    out = ch
    if strip_accents:
        out = _T.STRIP_OVERRIDES.get(ch)
        if out is None:
            out = "".join(c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn")
    if lowercase:
        out = "".join(_T.LOWER_OVERRIDES.get(c) or c.lower() for c in out)
    return out


class CharNormalizer(dict):  # type: ignore[type-arg]
    """``char -> normalised string`` memo for one (lowercase, strip_accents) setting; missing keys are computed."""

    __slots__ = ("lowercase", "strip_accents")

    def __init__(self, lowercase: bool, strip_accents: bool) -> None:
        super().__init__()
        self.lowercase = lowercase
        self.strip_accents = strip_accents

    def __missing__(self, ch: str) -> str:
        if len(self) >= _CHAR_CACHE_MAX:
            self.clear()
        out = self[ch] = normalize_char(ch, self.lowercase, self.strip_accents)
        return out

    def normalize(self, text: str) -> tuple[str, list[int] | None]:
        """Normalise ``text``; also return the original index of each output character.

        Returns ``(normalised, index)`` where ``index`` is None when the mapping is the identity (the common case:
        every character maps to exactly one character), so callers can skip the index arithmetic.
        """
        if text.isascii() and text.isprintable():
            # ASCII without controls: lower-casing is the only change and it keeps positions.
            return (text.lower() if self.lowercase else text), None
        pieces = list(map(self.__getitem__, text))
        norm = "".join(pieces)
        if len(norm) == len(text) and "" not in pieces:
            return norm, None
        index: list[int] = []
        for i, piece in enumerate(pieces):
            if piece:
                index.extend([i] * len(piece))
        return norm, index


_NORMALIZERS: dict[tuple[bool, bool], CharNormalizer] = {}


def get_normalizer(lowercase: bool, strip_accents: bool) -> CharNormalizer:
    """The shared memo for a setting (four at most exist)."""
    key = (bool(lowercase), bool(strip_accents))
    norm = _NORMALIZERS.get(key)
    if norm is None:
        norm = _NORMALIZERS[key] = CharNormalizer(*key)
    return norm


def is_whitespace(ch: str) -> bool:
    """True for characters that BERT cleaning turns into a space (\\t, \\n, \\r, Unicode White_Space)."""
    return bool(_SPACE_RE.match(ch)) or ch == " "


def is_control(ch: str) -> bool:
    """True for characters that BERT cleaning removes (control, format, private use, NUL, U+FFFD)."""
    return bool(_REMOVED_RE.match(ch))


def is_punctuation(ch: str) -> bool:
    """True for characters split off as their own word (ASCII punctuation and Unicode P*)."""
    return bool(_PUNCT_RE.match(ch))


def is_cjk_character(ch: str) -> bool:
    """True for BERT's CJK ideographs (each one is a word)."""
    return bool(_CJK_RE.match(ch))


def convert_to_unicode(text: str | bytes, encoding: str = "utf-8") -> str:
    """Return ``text`` as str, decoding bytes (errors ignored, as the original did).

    Args:
        text: str or bytes.
        encoding: codec for bytes.

    Raises:
        TypeError: for anything else.
    """
    if isinstance(text, str):
        return text
    if isinstance(text, bytes):
        return text.decode(encoding, "ignore")
    raise TypeError(f"unsupported string type: {type(text).__name__}")


def whitespace_tokenize(text: str) -> list[str]:
    """Strip ``text`` and split it on whitespace."""
    return text.split()


class BasicTokenizer:
    """Cleaning, accent stripping, lower-casing and splitting on spaces, punctuation and CJK characters.

    Args:
        do_lower_case: lower-case (and strip accents, unless ``strip_accents`` says otherwise).
        never_split: tokens kept whole and unchanged, e.g. the special tokens.
        strip_accents: None follows ``do_lower_case`` (HF's rule).
    """

    def __init__(
        self,
        do_lower_case: bool = True,
        never_split: tuple[str, ...] | list[str] = ("[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"),
        strip_accents: bool | None = None,
    ) -> None:
        self.do_lower_case = do_lower_case
        self.never_split = tuple(t for t in (never_split or ()) if t)
        self.strip_accents = do_lower_case if strip_accents is None else strip_accents
        self._norm = get_normalizer(do_lower_case, self.strip_accents)
        self._split_re = (
            re.compile("|".join(re.escape(t) for t in sorted(self.never_split, key=len, reverse=True)))
            if self.never_split
            else None
        )

    def tokenize(self, text: str) -> list[str]:
        """Split ``text`` into normalised words; ``never_split`` tokens come out unchanged."""
        text = convert_to_unicode(text)
        out: list[str] = []
        pos = 0
        if self._split_re is not None:
            for m in self._split_re.finditer(text):
                out.extend(WORD_RE.findall(self._norm.normalize(text[pos : m.start()])[0]))
                out.append(m.group())
                pos = m.end()
        out.extend(WORD_RE.findall(self._norm.normalize(text[pos:])[0]))
        return out
