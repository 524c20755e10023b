"""Text in, text out: encode with a bert4torch tokenizer, generate, decode with the same tokenizer's rules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from ._generate import CachedLM, stream_generate
from ._runner import is_encoder_decoder


def _prompt_ids(model: Any, tokenizer: Any, text: str, end_id: int | None) -> list[int]:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str: got {type(text).__name__}")
    ids = list(tokenizer.encode(text)[0])
    if not is_encoder_decoder(model) and end_id is not None and ids and ids[-1] == end_id:
        ids = ids[:-1]  # a decoder continues the text: it must not see the text already closed
    return ids


def stream_text(
    model: CachedLM, tokenizer: Any, text: str, *, max_new_tokens: int, stop: Sequence[str] = (),
    do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, eos_token_id: int | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """Yield the generated text piece by piece: each piece is what the new token added to the decoded answer.

    Args:
        model: a bert4torch decoder or encoder-decoder with a key/value cache.
        tokenizer: a bert4torch tokenizer (``encode``/``decode``); its end token ends generation by default.
        text: the prompt (decoder-only models continue it; encoder-decoder models answer it).
        max_new_tokens: how many tokens to make at most.
        stop: strings that end the answer; the answer stops before the first one that appears.
        do_sample, temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size, generator: as in
            :func:`generate`.
        eos_token_id: end id(s) (default: the tokenizer's end token, ``[SEP]`` or ``</s>``).

    Raises:
        TypeError: ``text`` is not a str, or ``stop`` is a bare string.
    """
    if isinstance(stop, str):
        raise TypeError(f"stop must be a list of strings: got the string {stop!r} (write [{stop!r}])")
    end_id = getattr(tokenizer, "_token_end_id", None)
    eos = end_id if eos_token_id is None else eos_token_id
    ids = torch.tensor([_prompt_ids(model, tokenizer, text, end_id)], dtype=torch.long)
    steps = stream_generate(model, ids, max_new_tokens=max_new_tokens, do_sample=do_sample, temperature=temperature,
                            top_k=top_k, top_p=top_p, repetition_penalty=repetition_penalty,
                            no_repeat_ngram_size=no_repeat_ngram_size, eos_token_id=eos, generator=generator)
    ends = set() if eos is None else ({eos} if isinstance(eos, int) else set(eos))
    made: list[int] = []
    shown, answer = "", ""
    for step in steps:
        token = int(step[0])
        if token in ends:
            break
        made.append(token)
        answer = tokenizer.decode(made)
        cut = min((answer.find(s) for s in stop if s and s in answer), default=-1)
        if cut >= 0:
            if cut > len(shown):
                yield answer[len(shown):cut]
            return
        safe = len(answer) - _held_back(answer, stop)
        if answer.startswith(shown) and safe > len(shown):
            yield answer[len(shown):safe]
            shown = answer[:safe]
    if answer.startswith(shown) and len(answer) > len(shown):
        yield answer[len(shown):]


def _held_back(answer: str, stop: Sequence[str]) -> int:
    """How many final characters of ``answer`` could start a stop string (they are shown only once it cannot)."""
    return max((k for s in stop for k in range(1, len(s)) if answer.endswith(s[:k])), default=0)


def generate_text(
    model: CachedLM, tokenizer: Any, text: str, *, max_new_tokens: int, stop: Sequence[str] = (),
    do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, eos_token_id: int | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """The generated answer to ``text`` as one string (the pieces of :func:`stream_text` joined).

    The arguments are those of :func:`stream_text`. The answer is decoded with the tokenizer's rules and ends before
    the first stop string, the end token, or after ``max_new_tokens`` tokens.
    """
    return "".join(stream_text(model, tokenizer, text, max_new_tokens=max_new_tokens, stop=stop, do_sample=do_sample,
                               temperature=temperature, top_k=top_k, top_p=top_p,
                               repetition_penalty=repetition_penalty, no_repeat_ngram_size=no_repeat_ngram_size,
                               eos_token_id=eos_token_id, generator=generator))
