"""Text utilities of the original ``snippets``: segmentation, truncation, merging, EDA-style augmentation."""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypeVar

T = TypeVar("T")


def truncate_sequences(maxlen: int, indices: int | Sequence[int], *sequences: list[Any] | None) -> list[list[Any]]:
    """Pop items from the longest sequence until the total length is at most ``maxlen``.

    Empty or None sequences are dropped first. Ties go to the first sequence. The lists are changed in place.

    Args:
        maxlen: the total length to reach.
        indices: the index to pop at, one for all or one per (non-empty) sequence; -1 pops the last item.
        *sequences: lists to shorten.

    Returns:
        The (non-empty) sequences, shortened.

    Raises:
        ValueError: ``indices`` has a different length than the sequences.
    """
    seqs = [s for s in sequences if s]
    if isinstance(indices, int):
        idx = [indices] * len(seqs)
    else:
        idx = list(indices)
        if len(idx) != len(seqs):
            raise ValueError(f"got {len(idx)} indices for {len(seqs)} non-empty sequences")
    total = sum(len(s) for s in seqs)
    while total > maxlen:
        i = max(range(len(seqs)), key=lambda k: len(seqs[k]))
        seqs[i].pop(idx[i])
        total -= 1
    return seqs


def text_segmentate(
    text: str, maxlen: int, seps: str | Sequence[str] = "\n", strips: str | None = None, truncate: bool = True
) -> list[str]:
    """Split ``text`` into pieces of at most ``maxlen`` characters, preferring the earlier separators.

    Args:
        text: the text.
        maxlen: the longest piece.
        seps: separators, most preferred first (a str is a sequence of one-character separators); each piece keeps
            its separator.
        strips: characters stripped from each piece (``str.strip`` argument).
        truncate: when no separator is left and a piece is still too long, cut it every ``maxlen`` characters.

    Returns:
        The pieces, in order.
    """
    text = text.strip().strip(strips)
    if seps and len(text) > maxlen:
        pieces = text.split(seps[0])
        text, texts = "", []
        for i, p in enumerate(pieces):
            if text and p and len(text) + len(p) > maxlen - 1:
                texts.extend(text_segmentate(text, maxlen, seps[1:], strips, truncate))
                text = ""
            if i + 1 == len(pieces):
                text = text + p
            else:
                text = text + p + seps[0]
        if text:
            texts.extend(text_segmentate(text, maxlen, seps[1:], strips, truncate))
        return texts
    if truncate and not seps and len(text) > maxlen:
        return [text[i : i + maxlen] for i in range(0, len(text), maxlen)]
    return [text]


def merge_segmentate(sequences: Iterable[str], maxlen: int, sep: str = "") -> list[str]:
    """Greedily join consecutive pieces (with ``sep``) while the result stays within ``maxlen`` characters.

    A piece of ``maxlen`` characters or more is kept alone; empty pieces never start a group.
    """
    out: list[str] = []
    text = ""
    for t in sequences:
        if text and len(text) + len(sep) + len(t) <= maxlen:
            text = text + sep + t
        elif text:
            out.append(text)
            text = t
        elif len(t) < maxlen:
            text = t
        else:
            out.append(t)
            text = ""
    if text:
        out.append(text)
    return out


def lowercase_and_normalize(text: str, never_split: Iterable[str] = ()) -> str:
    """Lower-case ``text`` except the ``never_split`` tokens, then strip accents (NFD minus nonspacing marks)."""
    tokens = [t for t in never_split if t]
    if tokens:
        pattern = "(" + "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)) + ")"
        parts = re.split(pattern, text)
        text = "".join(p if i % 2 else p.lower() for i, p in enumerate(parts))
    else:
        text = text.lower()
    text = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Mn")


_STRATEGIES = ("insert", "delete", "replace", "random")


def text_augmentation(
    texts: str | list[str],
    noise_dict: Sequence[str] | set[str] | None = None,
    noise_len: int = 0,
    noise_p: float = 0.0,
    skip_words: str | Sequence[str] | None = None,
    strategy: Literal["insert", "delete", "replace", "random"] = "random",
    allow_dup: bool = True,
    rng: random.Random | None = None,
) -> list[str]:
    """EDA-style character noise: insert, delete or replace characters.

    Args:
        texts: a text or a list of texts.
        noise_dict: characters/strings to insert or replace with (needed for insert and replace).
        noise_len: how many edits per text (takes precedence over ``noise_p``).
        noise_p: edits as a fraction of the text length when ``noise_len`` is 0.
        skip_words: words (str or list) whose characters are never edited.
        strategy: 'insert', 'delete', 'replace' or 'random' (one of the three per edit).
        allow_dup: allow several edits at the same position.
        rng: random generator (defaults to the ``random`` module's), for reproducible noise.

    Returns:
        The augmented texts, always a list (as the original returned), even for one input text.

    Raises:
        ValueError: unknown strategy, or insert/replace without ``noise_dict``.
    """
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")
    noise = list(noise_dict or ())
    if strategy in ("insert", "replace") and not noise:
        raise ValueError(f"strategy {strategy!r} needs a non-empty noise_dict")
    r = rng or random
    items = [texts] if isinstance(texts, str) else list(texts)
    skips = [skip_words] if isinstance(skip_words, str) else list(skip_words or ())
    return [_augment_one(text, noise, noise_len, noise_p, skips, strategy, allow_dup, r) for text in items]


def _augment_one(
    text: str, noise: list[str], noise_len: int, noise_p: float, skips: list[str], strategy: str, allow_dup: bool,
    r: Any,
) -> str:
    """One text of :func:`text_augmentation`."""
    protected = set()
    for w in skips:
        for m in re.finditer(re.escape(w), text):
            protected.update(range(m.start(), m.end()))
    n_edits = noise_len if noise_len > 0 else int(len(text) * noise_p)
    candidates = [i for i in range(len(text)) if i not in protected]
    if not candidates or n_edits <= 0:
        return text
    if allow_dup:
        positions = [r.choice(candidates) for _ in range(n_edits)]
    else:
        positions = r.sample(candidates, min(n_edits, len(candidates)))
    # one strategy per text, as the original; edits are per character slot, so positions never shift
    how = strategy
    if how == "random":
        how = r.choice(("insert", "delete", "replace") if noise else ("delete",))
    pieces = list(text)
    for pos in positions:
        if how == "insert":  # after the chosen character
            pieces[pos] = pieces[pos] + r.choice(noise)
        elif how == "delete":
            pieces[pos] = ""
        else:
            pieces[pos] = r.choice(noise)
    return "".join(pieces)
