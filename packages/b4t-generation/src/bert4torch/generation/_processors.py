"""Logits processors as small pure functions: each takes ``[rows, vocab]`` scores and returns new scores.

They follow ``transformers``' processors of the same names (same order of application, same arithmetic), so that a
generation with the same arguments picks the same tokens. ``sequences`` is every token a row has seen so far (the
prompt with its padding, then the generated tokens), as ``transformers`` passes ``input_ids``.
"""

from __future__ import annotations

import torch
from torch import Tensor

_NEG_INF = float("-inf")


def is_int(value: object) -> bool:
    """An int and not a bool (``True`` is an int to Python, never a count or a token id here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value: object) -> bool:
    """An int or a float and not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def top_k_limit(top_k: int | None) -> int | None:
    """``transformers``' ``top_k``: 0 means no limit, as None does (any other value is checked by check_top_k)."""
    return None if is_int(top_k) and top_k == 0 else top_k


def check_top_k(top_k: int | None, vocab: int | None = None, name: str = "top_k") -> None:
    """Raise ValueError unless ``top_k`` is None or an int in ``[1, vocab]``."""
    if top_k is None:
        return
    if not is_int(top_k) or top_k < 1:
        raise ValueError(f"{name} must be a positive int (or None for no limit): got {top_k!r}")
    if vocab is not None and top_k > vocab:
        raise ValueError(f"{name}={top_k} is larger than the vocabulary ({vocab} tokens): use at most {vocab}")


def check_temperature(temperature: float, hint: str) -> None:
    """Raise ValueError unless ``temperature`` is a finite number > 0 (``hint`` tells what to use instead)."""
    if not is_real(temperature) or not 0 < temperature < float("inf"):
        raise ValueError(f"temperature must be a finite number > 0: got {temperature!r} ({hint})")


def check_top_p(top_p: float | None, name: str = "top_p") -> None:
    """Raise ValueError unless ``top_p`` is None or a number in (0, 1]."""
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"{name} must be in (0, 1] (1 keeps every token): got {top_p!r}")


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the ``top_k`` largest and outside the ``top_p`` nucleus.

    The nucleus is the smallest set of the most likely tokens whose probability reaches ``top_p``; the most
    likely token is always kept. ``top_k`` is applied first, so the nucleus is taken from the renormalised top-k.

    Args:
        logits: ``[rows, vocab]`` float scores (already divided by the temperature).
        top_k: keep this many tokens per row (None or 0: no limit); at most the vocabulary size.
        top_p: keep the nucleus of this mass, in (0, 1] (None or 1: no limit).

    Raises:
        ValueError: ``top_k`` negative or above the vocabulary, ``top_p`` outside (0, 1].
    """
    top_k = top_k_limit(top_k)
    check_top_k(top_k, logits.shape[-1])
    check_top_p(top_p)
    if top_k is not None:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, _NEG_INF)
    if top_p is not None and top_p < 1.0:
        ascending, order = logits.sort(dim=-1)
        mass_below = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = mass_below <= 1.0 - top_p  # these tokens together hold no more than 1 - top_p
        drop[..., -1] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), _NEG_INF)
    return logits


def repetition_penalty(scores: Tensor, sequences: Tensor, penalty: float, skip: Tensor | None = None) -> Tensor:
    """Make every token already in ``sequences`` less likely: negative scores times ``penalty``, others divided.

    Args:
        scores: ``[rows, vocab]``.
        sequences: ``[rows, len]`` the tokens seen so far.
        penalty: > 1 penalises, < 1 favours.
        skip: ``[rows]`` how many leading positions of each row to ignore (its left padding), or None.
    """
    vocab = scores.shape[-1]
    if skip is not None:  # ignored positions point at an extra column that is dropped afterwards
        positions = torch.arange(sequences.shape[1], device=sequences.device)
        sequences = sequences.masked_fill(positions[None, :] < skip[:, None], vocab)
    padded = torch.nn.functional.pad(scores, (0, 1))
    seen = padded.gather(1, sequences)
    seen = torch.where(seen < 0, seen * penalty, seen / penalty)
    return padded.scatter(1, sequences, seen)[:, :vocab]


def no_repeat_ngram(scores: Tensor, sequences: Tensor, size: int) -> Tensor:
    """Forbid every token that would repeat an n-gram of ``size`` tokens already in the row."""
    length = sequences.shape[1]
    if length < size:  # no complete n-gram yet
        return scores
    if size == 1:
        banned = torch.zeros_like(scores, dtype=torch.bool).scatter(1, sequences, True)
        return scores.masked_fill(banned, _NEG_INF)
    windows = sequences.unfold(1, size, 1)  # [rows, length - size + 1, size]
    tail = sequences[:, length - size + 1:]  # the n-1 tokens the next one would extend
    match = (windows[:, :, :-1] == tail[:, None, :]).all(-1)
    hits = torch.zeros(scores.shape, dtype=torch.int32, device=scores.device)
    hits.scatter_add_(1, windows[:, :, -1], match.to(torch.int32))  # add, not assign: a token may repeat
    return scores.masked_fill(hits > 0, _NEG_INF)


def suppress_tokens(scores: Tensor, token_ids: Tensor) -> Tensor:
    """Set the scores of ``token_ids`` (1-D) to -inf in every row (end ids before ``min_new_tokens``)."""
    return scores.index_fill(1, token_ids, _NEG_INF)


class ProcessOptions:
    """The validated per-call processor settings (immutable after construction; one per generation call)."""

    __slots__ = ("repetition_penalty", "no_repeat_ngram_size", "min_new_tokens", "eos", "do_sample", "temperature",
                 "top_k", "top_p")

    def __init__(self, *, repetition_penalty: float, no_repeat_ngram_size: int, min_new_tokens: int, eos: Tensor | None,
                 do_sample: bool, temperature: float, top_k: int | None, top_p: float | None) -> None:
        self.repetition_penalty = float(repetition_penalty)
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.min_new_tokens = min_new_tokens
        self.eos = eos
        self.do_sample = do_sample
        self.temperature = float(temperature)
        self.top_k = top_k
        self.top_p = top_p

    @property
    def uses_sequences(self) -> bool:
        """Whether a processor reads the tokens seen so far (else callers need not keep them)."""
        return self.repetition_penalty != 1.0 or bool(self.no_repeat_ngram_size)


def process(
    scores: Tensor,
    sequences: Tensor | None,
    *,
    new_len: int,
    options: ProcessOptions,
    skip: Tensor | None = None,
) -> Tensor:
    """Apply the processors in ``transformers``' order: repetition, n-grams, min_new_tokens, then the temperature
    (the top-k/top-p filters belong to :func:`sample`, which comes next in the same order).

    Args:
        scores: ``[rows, vocab]`` logits (log-probabilities in beam search).
        sequences: ``[rows, len]`` every token seen so far (the padded prompt, then the new tokens); None when
            ``options.uses_sequences`` is False.
        new_len: how many tokens were generated so far.
        options: the call's settings.
        skip: ``[rows]`` left padding of each row, which the repetition penalty ignores (None: none).
    """
    if options.uses_sequences:
        assert sequences is not None
        if options.repetition_penalty != 1.0:
            scores = repetition_penalty(scores, sequences, options.repetition_penalty, skip)
        if options.no_repeat_ngram_size:
            scores = no_repeat_ngram(scores, sequences, options.no_repeat_ngram_size)
    if options.eos is not None and new_len < options.min_new_tokens:
        scores = suppress_tokens(scores, options.eos)
    if options.do_sample and options.temperature != 1.0:
        scores = scores / options.temperature
    return scores


def sample(logits: Tensor, top_k: int | None, top_p: float | None, generator: torch.Generator | None = None) -> Tensor:
    """One token per row drawn from the softmax of :func:`filter_logits` (``top_k``, then the ``top_p`` nucleus).

    The one sampler of the package: ``generate`` and ``AutoRegressiveDecoder.random_sample`` both draw with it.

    Args:
        logits: ``[rows, vocab]`` scores (already divided by the temperature).
        top_k: keep this many tokens per row (None or 0: no limit).
        top_p: keep the nucleus of this mass, in (0, 1] (None or 1: no limit).
        generator: the random generator (None: torch's global one).

    Returns:
        ``[rows]`` the drawn token ids.
    """
    probas = filter_logits(logits, top_k, top_p).softmax(dim=-1)
    return torch.multinomial(probas, 1, generator=generator).squeeze(1)
