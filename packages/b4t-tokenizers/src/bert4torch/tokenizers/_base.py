"""TokenizerBase: special tokens, encode (single, pair, batch), truncation, offsets and id lookups."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal, Union

from ._trie import Trie
from ._utils import strict_kwargs

TextOrTokens = Union[str, Sequence[str]]
# (start, end) into the original text; (0, 0) for an added start/end token (a real token is never empty), so the
# list is already the 'transformers' offsets form, equal to HF's ``Encoding.offsets``, with no second pass. Tuples
# rather than lists: the cyclic GC stops tracking tuples of ints, so keeping many encodings stays cheap.
_Span = tuple[int, int]


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
        self.tokens_trie = Trie(self.never_split)
        self._pre_tokenize = pre_tokenize
        self._token_translate: dict[str, str] = dict(token_translate or {})
        self._token_translate_inv = {v: k for k, v in self._token_translate.items()}

    # ---- to be provided by subclasses -------------------------------------------------------------------------
    def token_to_id(self, token: str) -> int:
        """Id of ``token`` (the unknown token's id when absent)."""
        raise NotImplementedError

    def id_to_token(self, i: int) -> str:
        """Token of id ``i``."""
        raise NotImplementedError

    def _tokenize(self, text: str) -> list[str]:
        raise NotImplementedError

    def _encode_body(self, text: str, with_offsets: bool) -> tuple[list[int], list[_Span] | None]:
        """Ids of ``text`` without start/end tokens, and (when asked and supported) their spans."""
        if with_offsets:
            raise NotImplementedError(f"{type(self).__name__} does not compute offsets")
        return self.tokens_to_ids(self._translate(self._tokenize(text))), None

    def decode(self, ids: Sequence[int]) -> str:
        """Readable text of ``ids``."""
        raise NotImplementedError

    # ---- shared -------------------------------------------------------------------------------------------------
    def _translate(self, tokens: list[str]) -> list[str]:
        tr = self._token_translate
        return [tr.get(t) or t for t in tokens] if tr else tokens

    def tokens_to_ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``."""
        return [self.token_to_id(t) for t in tokens]

    def ids_to_tokens(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``."""
        return [self.id_to_token(i) for i in ids]

    def tokenize(self, text: str, maxlen: int | None = None) -> list[str]:
        """Tokens of ``text`` with the start and end tokens; truncated before the end token to ``maxlen``."""
        tokens = self._translate(self._tokenize(text))
        if self._token_start is not None:
            tokens.insert(0, self._token_start)
        if self._token_end is not None:
            tokens.append(self._token_end)
        if maxlen is not None:
            index = -int(self._token_end is not None) - 1
            tokens = apply_truncation(tokens, truncate_plan(maxlen, index, [len(tokens)])[0], index)
        return tokens

    def _with_specials(self, text: TextOrTokens, with_offsets: bool) -> tuple[list[int], list[_Span] | None]:
        if isinstance(text, str):
            ids, spans = self._encode_body(text, with_offsets)
        else:  # already tokens, as tokenize() returns them (with start/end): the original accepted these
            if with_offsets:
                raise ValueError("return_offsets needs texts, not token lists")
            return self.tokens_to_ids(text), None
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
            ValueError: a bad ``return_offsets``/``truncate_from`` value, batch sizes that differ, or a ``maxlen``
                too small to hold the start and end tokens.
        """
        if return_offsets not in (False, True, "transformers"):
            raise ValueError(f"return_offsets must be False, True or 'transformers', got {return_offsets!r}")
        single = isinstance(first_texts, str)
        if single and second_texts is None and maxlen is None and not return_offsets:  # the commonest case
            ids = self._with_specials(first_texts, False)[0]
            return [ids, [0] * len(ids)]
        # Offsets and batches allocate one small object per token or text; the cyclic GC would scan them again
        # and again while they are being built (measured: 30-50% of a batch's time). None of them can form a
        # cycle, so collection is paused for the duration of the call and restored after.
        paused = gc.isenabled()
        if paused:
            gc.disable()
        try:
            return self._encode(first_texts, second_texts, maxlen, pattern, truncate_from, return_offsets, single)
        finally:
            if paused:
                gc.enable()

    def _encode(
        self,
        first_texts: Any,
        second_texts: Any,
        maxlen: int | None,
        pattern: str,
        truncate_from: Any,
        return_offsets: bool | str,
        single: bool,
    ) -> list[Any]:
        if second_texts is None and maxlen is None:  # the common cases, kept short
            if return_offsets:
                if single:
                    ids, spans = self._with_specials(first_texts, True)
                    offsets = spans if return_offsets == "transformers" else self._rematch_form(spans)
                    return [ids, [0] * len(ids), offsets]
                out = self._batch_spans(first_texts)
                if out is None:
                    out = [self._with_specials(t, True) for t in first_texts]
                batch_ids = [ids for ids, _ in out]
                if return_offsets == "transformers":
                    batch_spans = [spans for _, spans in out]
                else:
                    batch_spans = [self._rematch_form(spans) for _, spans in out]
                return [batch_ids, [[0] * len(ids) for ids in batch_ids], batch_spans]
            if single:
                ids = self._with_specials(first_texts, False)[0]
                return [ids, [0] * len(ids)]
            batch_ids = self._batch_ids(first_texts)
            if batch_ids is None:
                with_specials = self._with_specials
                batch_ids = [with_specials(t, False)[0] for t in first_texts]
            return [batch_ids, [[0] * len(ids) for ids in batch_ids]]
        if single:
            firsts: Sequence[Any] = [first_texts]
            seconds: Sequence[Any] = [second_texts]
        else:
            firsts = first_texts
            if second_texts is None:
                seconds = [None] * len(firsts)
            elif isinstance(second_texts, str):
                raise ValueError("first_texts is a batch but second_texts is a single text")
            else:
                seconds = second_texts
                if len(seconds) != len(firsts):
                    raise ValueError(f"first_texts and second_texts differ in length: {len(firsts)} != {len(seconds)}")
        if truncate_from == "right":
            index = -int(self._token_end is not None) - 1
        elif truncate_from == "left":
            index = int(self._token_start is not None)
        elif isinstance(truncate_from, int):
            index = truncate_from
        else:
            raise ValueError(f"truncate_from must be 'right', 'left' or an int, got {truncate_from!r}")
        drop_second_start = pattern == "S*E*E" and self._token_start is not None
        with_offsets = bool(return_offsets)
        all_ids, all_segs, all_offs = [], [], []
        for first, second in zip(firsts, seconds):
            ids, spans = self._with_specials(first, with_offsets)
            if second is None:
                if maxlen is not None:
                    k = truncate_plan(maxlen, index, [len(ids)])[0]
                    ids = apply_truncation(ids, k, index)
                    if spans is not None:
                        spans = apply_truncation(spans, k, index)
                segs = [0] * len(ids)
            else:
                ids2, spans2 = self._with_specials(second, with_offsets)
                if maxlen is not None:
                    # +1 because the second start token is about to be dropped (the original raised maxlen in
                    # place, so it grew by one per pair of a batch: fixed).
                    k1, k2 = truncate_plan(maxlen + int(drop_second_start), index, [len(ids), len(ids2)])
                    ids, ids2 = apply_truncation(ids, k1, index), apply_truncation(ids2, k2, index)
                    if spans is not None and spans2 is not None:
                        spans, spans2 = apply_truncation(spans, k1, index), apply_truncation(spans2, k2, index)
                if drop_second_start:
                    ids2 = ids2[1:]
                    spans2 = spans2[1:] if spans2 is not None else None
                segs = [0] * len(ids) + [1] * len(ids2)
                ids = ids + ids2
                if spans is not None and spans2 is not None:
                    spans = spans + spans2
            all_ids.append(ids)
            all_segs.append(segs)
            if with_offsets:
                assert spans is not None
                if return_offsets == "transformers":
                    all_offs.append(spans)
                else:
                    all_offs.append(self._rematch_form(spans))
        if single:
            out = [all_ids[0], all_segs[0]]
            return out + [all_offs[0]] if with_offsets else out
        return [all_ids, all_segs, all_offs] if with_offsets else [all_ids, all_segs]

    def _batch_ids(self, texts: Sequence[Any]) -> list[list[int]] | None:
        """A faster whole-batch path for subclasses; None means "encode text by text"."""
        return None

    def _batch_spans(self, texts: Sequence[Any]) -> list[tuple[list[int], list[_Span]]] | None:
        """Like ``_batch_ids`` with spans; None means "encode text by text"."""
        return None

    @staticmethod
    def _rematch_form(spans: Any) -> list[list[int]]:
        if spans is None:
            raise ValueError("return_offsets needs texts, not token lists")
        return [list(range(a, b)) for a, b in spans]

    def _set_special_ids(self) -> None:
        """Cache the ids of the special tokens as attributes (``_token_pad_id`` etc., read by user code)."""
        for name in ("pad", "unk", "mask", "start", "end"):
            token = getattr(self, f"_token_{name}")
            setattr(self, f"_token_{name}_id", None if token is None else self.token_to_id(token))
