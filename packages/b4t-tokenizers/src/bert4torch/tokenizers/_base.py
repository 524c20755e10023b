"""TokenizerBase: special tokens, encode (single, pair, batch), truncation, offsets, id lookups, input checks."""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

from ._trie import Trie
from ._utils import strict_kwargs

_log = logging.getLogger("bert4torch.tokenizers")

TextOrTokens = Union[str, Sequence[str]]
# (start, end) into the original text; (0, 0) for an added start/end token (a real token is never empty), so the
# list is already the 'transformers' offsets form, equal to HF's ``Encoding.offsets``, with no second pass. Tuples
# rather than lists: the cyclic GC stops tracking tuples of ints, so keeping many encodings stays cheap.
_Span = tuple[int, int]
_Encoded = tuple[list[int], Union[list[_Span], None]]

# The constructor options every tokenizer shares; subclasses pass them through with ``base_options(locals())``.
BASE_OPTIONS = (
    "token_start", "token_end", "token_unk", "token_pad", "token_mask", "add_special_tokens", "pre_tokenize",
    "token_translate",
)


def base_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`TokenizerBase` options among a subclass constructor's ``locals()``."""
    return {name: values[name] for name in BASE_OPTIONS}


def truncate_plan(maxlen: int, index: int | Sequence[int], lengths: Sequence[int]) -> list[int]:
    """How many items ``truncate_sequences`` pops from each sequence (pop from the longest, first on ties)."""
    lengths = list(lengths)
    removed = [0] * len(lengths)
    total = sum(lengths)
    while total > maxlen:
        i = max(range(len(lengths)), key=lengths.__getitem__)  # first of the longest
        lengths[i] -= 1
        removed[i] += 1
        total -= 1
    return removed


def apply_truncation(seq: list[Any], count: int, index: int) -> list[Any]:
    """``seq`` after ``count`` pops at ``index`` (the block of removed items is contiguous).

    Raises:
        ValueError: the sequence is too short to pop ``count`` times at ``index`` (maxlen too small).
    """
    if count == 0:
        return seq
    n = len(seq)
    if index >= 0:
        start, stop = index, index + count
    else:
        stop = n + index + 1
        start = stop - count
    if start < 0 or stop > n:
        raise ValueError(f"cannot remove {count} items at index {index} from a sequence of {n}: maxlen is too small")
    return seq[:start] + seq[stop:]


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def check_texts(name: str, texts: Any, allow_none: bool = False) -> None:
    """Raise a TypeError naming ``name`` unless ``texts`` is a batch: a list/tuple of texts or token lists.

    Raises:
        TypeError: ``texts`` is not a list/tuple, or an item is not a str or a list/tuple of str (or None, when
            ``allow_none``).
    """
    if texts.__class__ is not list and not isinstance(texts, (list, tuple)):
        hint = "; call .tolist() first" if hasattr(texts, "tolist") else ""
        raise TypeError(
            f"{name} must be a str (one text) or a list of texts or token lists (a batch), got {_describe(texts)}"
            + hint
        )
    if all(t.__class__ is str for t in texts):  # the common batch: one C-level pass
        return
    for k, item in enumerate(texts):
        if isinstance(item, str) or (item is None and allow_none):
            continue
        if isinstance(item, (list, tuple)) and all(isinstance(t, str) for t in item):
            continue
        raise TypeError(f"{name}[{k}] must be a str or a list of token strings, got {_describe(item)}")


def as_id_list(ids: Any, vocab_size: int) -> list[int]:
    """``ids`` (a list, tuple, numpy array or torch tensor of ints) as a list of ints in ``[0, vocab_size)``.

    Raises:
        TypeError: ``ids`` is not one sequence of integers (a float, a nested list, a str).
        ValueError: an id is negative or not below ``vocab_size``.
    """
    if hasattr(ids, "tolist") and not isinstance(ids, (list, tuple)):
        ids = ids.tolist()  # numpy arrays and torch tensors, as generation returns them (no import needed)
    if isinstance(ids, int) or not isinstance(ids, (list, tuple)):
        raise TypeError(f"ids must be a sequence of token ids (list, array or 1-D tensor), got {_describe(ids)}")
    out = []
    for k, i in enumerate(ids):
        if isinstance(i, bool) or isinstance(i, float):
            raise TypeError(f"ids[{k}] must be an integer token id, got {_describe(i)}")
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError(
                f"ids[{k}] must be an integer token id, got {_describe(i)}; decode takes one sequence (a row)"
            ) from None
        if not 0 <= i < vocab_size:
            raise ValueError(f"ids[{k}] = {i} is outside the vocabulary [0, {vocab_size})")
        out.append(i)
    return out


def _check_maxlen(maxlen: Any) -> None:
    if maxlen is not None and (isinstance(maxlen, bool) or not isinstance(maxlen, int)):
        raise TypeError(f"maxlen must be an int or None, got {_describe(maxlen)}")


class TokenizerBase:
    """Shared machinery of the WordPiece and SentencePiece tokenizers.

    Args:
        token_start: prepended to every text (``[CLS]``); None for none.
        token_end: appended to every text (``[SEP]``); None for none.
        token_unk: the unknown token.
        token_pad: the padding token.
        token_mask: the mask token.
        add_special_tokens: more tokens kept whole when they appear in text (a str or a list).
        pre_tokenize: a function ``text -> list[str]`` run first (e.g. a word segmenter); a resulting word that is
            in the vocabulary becomes one token, any other word is tokenized normally.
        token_translate: ``token -> token`` replacements applied after tokenization (and reversed by decode).
    """

    @strict_kwargs
    def __init__(
        self,
        token_start: str | None = "[CLS]",
        token_end: str | None = "[SEP]",
        token_unk: str | None = "[UNK]",
        token_pad: str | None = "[PAD]",
        token_mask: str | None = "[MASK]",
        add_special_tokens: str | Sequence[str] | None = None,
        pre_tokenize: Callable[[str], Iterable[str]] | None = None,
        token_translate: Mapping[str, str] | None = None,
    ) -> None:
        self._token_pad = token_pad
        self._token_unk = token_unk
        self._token_mask = token_mask
        self._token_start = token_start
        self._token_end = token_end
        never_split = [t for t in (token_unk, token_end, token_pad, token_start, token_mask) if t]
        if isinstance(add_special_tokens, str):
            never_split.append(add_special_tokens)
        elif add_special_tokens is not None:
            never_split.extend(add_special_tokens)
        self.never_split: list[str] = list(dict.fromkeys(never_split))
        self._pre_tokenize = pre_tokenize
        self._token_translate: dict[str, str] = dict(token_translate or {})
        self._token_translate_inv = {v: k for k, v in self._token_translate.items()}

    @functools.cached_property
    def tokens_trie(self) -> Trie:
        """A :class:`Trie` of ``never_split`` (kept for user code; encoding matches special tokens by regex)."""
        return Trie(self.never_split)

    # ---- to be provided by subclasses -------------------------------------------------------------------------
    def token_to_id(self, token: str) -> int:
        """Id of ``token`` (the unknown token's id when absent)."""
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        """Token of id ``i``."""
        raise NotImplementedError

    def _tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def _encode_body(self, text: str, with_offsets: bool) -> _Encoded:
        """Ids of ``text`` without start/end tokens, and (when asked and supported) their spans."""
        if with_offsets:
            raise NotImplementedError(f"{type(self).__name__} does not compute offsets")
        return self.tokens_to_ids(self._translate(self._tokenize(text))), None

    def decode(self, ids: Sequence[int]) -> str:
        """Readable text of ``ids``."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------------------------
    def _check_specials(self, contains: Callable[[str], bool]) -> None:
        """Refuse a start/end/unknown token that the vocabulary lacks (encoding would silently write [UNK] for it).

        The pad and mask tokens never enter an encoding: one the vocabulary lacks (a simplified vocabulary, many
        SentencePiece models) becomes None, with its ``_token_*_id``, and a debug log.
        """
        for name in ("start", "end", "unk", "pad", "mask"):
            token = getattr(self, f"_token_{name}")
            if token is None or contains(token):
                continue
            if name in ("pad", "mask"):
                _log.debug("the vocabulary has no %s token %r: token_%s is None", name, token, name)
                setattr(self, f"_token_{name}", None)
                self.never_split = [t for t in self.never_split if t != token]
                continue
            raise ValueError(
                f"the vocabulary has no {name} token {token!r}: pass token_{name}= the vocabulary's own "
                f"token, or token_{name}=None for none"
            )

    def _translate(self, tokens: list[str]) -> list[str]:
        tr = self._token_translate
        return [tr.get(t) or t for t in tokens] if tr else tokens

    def tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``."""
        return [self.token_to_id(t) for t in tokens]

    def ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.id_to_token(i) for i in ids]

    def _special_count(self, pair: bool, pattern: str = "S*E*E") -> int:
        """How many start/end tokens an encoding holds (the least ``maxlen`` can be)."""
        start, end = int(self._token_start is not None), int(self._token_end is not None)
        if not pair:
            return start + end
        return start + 2 * end if pattern == "S*E*E" else 2 * (start + end)

    def _check_room(self, maxlen: int | None, pair: bool, pattern: str = "S*E*E") -> None:
        _check_maxlen(maxlen)
        least = self._special_count(pair, pattern)
        if maxlen is not None and maxlen < least:
            what = "a pair" if pair else "a text"
            raise ValueError(f"maxlen={maxlen} cannot hold the {least} start/end tokens of {what}: use maxlen >= {least}")

    def tokenize(self, text: str, maxlen: int | None = None) -> list[str]:
        """Tokens of ``text`` with the start and end tokens; truncated before the end token to ``maxlen``.

        Raises:
            TypeError: ``text`` is not a str, or ``maxlen`` is not an int.
            ValueError: ``maxlen`` is too small for the start and end tokens.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {_describe(text)}")
        self._check_room(maxlen, False)
        tokens = self._translate(self._tokenize(text))
        if self._token_start is not None:
            tokens.insert(0, self._token_start)
        if self._token_end is not None:
            tokens.append(self._token_end)
        if maxlen is not None:
            index = -int(self._token_end is not None) - 1
            tokens = apply_truncation(tokens, truncate_plan(maxlen, index, [len(tokens)])[0], index)
        return tokens

    def _with_specials(self, text: TextOrTokens, with_offsets: bool) -> _Encoded:
        """Ids (and spans) of one text or token list, with the start and end tokens."""
        if not isinstance(text, str):  # already tokens, as tokenize() returns them (with start/end)
            if with_offsets:
                raise ValueError("return_offsets needs texts, not token lists")
            return self.tokens_to_ids(text), None
        ids, spans = self._encode_body(text, with_offsets)
        start, end = self._token_start_id, self._token_end_id
        if start is not None:
            ids.insert(0, start)
            if spans is not None:
                spans.insert(0, (0, 0))
        if end is not None:
            ids.append(end)
            if spans is not None:
                spans.append((0, 0))
        return ids, spans

    def _encode_batch(self, texts: Sequence[TextOrTokens], with_offsets: bool) -> list[_Encoded]:
        """Ids (and spans) of every text of a batch; subclasses may encode a whole batch at once."""
        with_specials = self._with_specials
        return [with_specials(t, with_offsets) for t in texts]

    def encode(
        self,
        first_texts: TextOrTokens | Sequence[TextOrTokens],
        second_texts: TextOrTokens | Sequence[TextOrTokens | None] | None = None,
        maxlen: int | None = None,
        pattern: str = "S*E*E",
        truncate_from: Literal["right", "left"] | int = "right",
        return_offsets: bool | Literal["transformers"] = False,
    ) -> list[Any]:
        """Token ids and segment ids of a text, a text pair, or a batch of either.

        Args:
            first_texts: a text, or a list of texts (a batch); an item may also be a list of tokens.
            second_texts: the second text of a pair (a list for a batch), or None.
            maxlen: total length limit; the longest part loses tokens first.
            pattern: ``'S*E*E'`` gives ``[CLS] a [SEP] b [SEP]`` (the second text's start token is dropped);
                any other value keeps it.
            truncate_from: ``'right'`` removes tokens just before the end token, ``'left'`` just after the start
                token; an int is the index to remove at.
            return_offsets: True adds, per token, the list of original character indices it covers (``[]`` for
                added start/end tokens; the ``rematch`` form); ``'transformers'`` adds ``(start, end)`` pairs with
                ``(0, 0)`` for added start/end tokens, equal to HF ``tokenizers``' ``Encoding.offsets``.

        Returns:
            ``[token_ids, segment_ids]`` plus ``offsets`` when asked; for a batch each is a list over the batch.

        Raises:
            TypeError: a text that is not a str or a list of token strings, or a ``maxlen`` that is not an int.
            ValueError: a bad ``return_offsets``/``truncate_from`` value, batch sizes that differ, or a ``maxlen``
                too small to hold the start and end tokens.
        """
        single = isinstance(first_texts, str)
        if single and second_texts is None and maxlen is None:  # the commonest calls, kept short
            if return_offsets is False:
                ids = self._with_specials(first_texts, False)[0]
                return [ids, [0] * len(ids)]
            if return_offsets is True or return_offsets == "transformers":
                ids, spans = self._with_specials(first_texts, True)
                return [ids, [0] * len(ids), self._offsets_form(spans, return_offsets)]
        if return_offsets not in (False, True, "transformers"):
            raise ValueError(f"return_offsets must be False, True or 'transformers', got {return_offsets!r}")
        if not single:
            check_texts("first_texts", first_texts)
        if second_texts is None and maxlen is None:
            return self._encode_plain(first_texts, single, return_offsets)
        return self._encode_pairs(first_texts, second_texts, maxlen, pattern, truncate_from, return_offsets, single)

    def _offsets_form(self, spans: list[_Span] | None, return_offsets: bool | str) -> Any:
        if spans is None:
            raise ValueError("return_offsets needs texts, not token lists")
        return spans if return_offsets == "transformers" else [list(range(a, b)) for a, b in spans]

    def _encode_plain(self, texts: Any, single: bool, return_offsets: bool | str) -> list[Any]:
        """``encode`` without a second text or a maxlen (the common batch case)."""
        out = [self._with_specials(texts, bool(return_offsets))] if single else self._encode_batch(texts, bool(return_offsets))
        all_ids = [ids for ids, _ in out]
        result = [all_ids, [[0] * len(ids) for ids in all_ids]]
        if return_offsets:
            result.append([self._offsets_form(spans, return_offsets) for _, spans in out])
        return [r[0] for r in result] if single else result

    def _pair_lists(self, first_texts: Any, second_texts: Any, single: bool) -> tuple[Sequence[Any], Sequence[Any]]:
        if single:
            if not (second_texts is None or isinstance(second_texts, str)):
                check_texts("second_texts", [second_texts])  # a token list, like a text's
            return [first_texts], [second_texts]
        if second_texts is None:
            return first_texts, [None] * len(first_texts)
        if isinstance(second_texts, str):
            raise ValueError("first_texts is a batch but second_texts is a single text: pass a list of texts")
        check_texts("second_texts", second_texts, allow_none=True)
        if len(second_texts) != len(first_texts):
            raise ValueError(f"first_texts and second_texts differ in length: {len(first_texts)} != {len(second_texts)}")
        return first_texts, second_texts

    def _truncation_index(self, truncate_from: Any) -> int:
        if truncate_from == "right":
            return -int(self._token_end is not None) - 1
        if truncate_from == "left":
            return int(self._token_start is not None)
        if isinstance(truncate_from, int) and not isinstance(truncate_from, bool):
            return truncate_from
        raise ValueError(f"truncate_from must be 'right', 'left' or an int, got {truncate_from!r}")

    def _encode_pairs(
        self, first_texts: Any, second_texts: Any, maxlen: int | None, pattern: str, truncate_from: Any,
        return_offsets: bool | str, single: bool,
    ) -> list[Any]:
        """``encode`` with second texts or a maxlen: each item encoded, truncated and joined."""
        firsts, seconds = self._pair_lists(first_texts, second_texts, single)
        self._check_room(maxlen, any(s is not None for s in seconds), pattern)
        index = self._truncation_index(truncate_from)
        drop_second_start = pattern == "S*E*E" and self._token_start is not None
        with_offsets = bool(return_offsets)
        all_ids, all_segs, all_offs = [], [], []
        for first, second in zip(firsts, seconds):
            parts = [self._with_specials(first, with_offsets)]
            if second is not None:
                parts.append(self._with_specials(second, with_offsets))
            if maxlen is not None:
                # +1 when the second start token is about to be dropped: it does not count against maxlen
                limit = maxlen + int(drop_second_start and second is not None)
                counts = truncate_plan(limit, index, [len(ids) for ids, _ in parts])
                parts = [
                    (apply_truncation(ids, k, index), None if spans is None else apply_truncation(spans, k, index))
                    for (ids, spans), k in zip(parts, counts)
                ]
            if len(parts) == 2 and drop_second_start:
                ids2, spans2 = parts[1]
                parts[1] = (ids2[1:], None if spans2 is None else spans2[1:])
            all_ids.append([i for ids, _ in parts for i in ids])
            all_segs.append([s for s, (ids, _) in enumerate(parts) for _ in ids])
            if with_offsets:
                spans = [sp for _, part_spans in parts for sp in self._offsets_form(part_spans, "transformers")]
                all_offs.append(self._offsets_form(spans, return_offsets))
        result = [all_ids, all_segs, all_offs] if with_offsets else [all_ids, all_segs]
        return [r[0] for r in result] if single else result

    def _set_special_ids(self) -> None:
        """Cache the ids of the special tokens as attributes (``_token_pad_id`` etc., read by user code)."""
        for name in ("pad", "unk", "mask", "start", "end"):
            token = getattr(self, f"_token_{name}")
            setattr(self, f"_token_{name}_id", None if token is None else self.token_to_id(token))
