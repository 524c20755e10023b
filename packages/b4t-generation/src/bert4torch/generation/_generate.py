"""``generate`` and ``stream_generate``: ``transformers``' arguments and meanings on bert4torch's cached models.

Works with every model that follows the cache protocol of ``bert4torch.models`` (``_runner.py``): decoder-only
families (gpt2, llama, qwen2, ...) continue ``input_ids``; encoder-decoder families (t5 variants, bart,
``transformer``) encode ``input_ids`` once and decode from ``decoder_start_token_id``. The prompt is run once; every
later step feeds one token per row. Rows of different lengths are left-padded and given an ``attention_mask``;
positions follow the mask, so a padded row decodes exactly as it would alone. Every call keeps its state in local
objects, so threads may share one model.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import torch
from torch import Tensor

from ._beam import beam_search
from ._processors import process, sample
from ._request import Request, make_request
from ._runner import Decoding, Runner
from ._static import StaticRunner, family_of


class CachedLM(Protocol):
    def __call__(self, inputs: list[Any], *, past_key_values: Any = ..., use_cache: bool = ...) -> Any: ...


def _start(req: Request) -> tuple[Decoding, Tensor, Tensor, Tensor | None]:
    """Run the prompt: the runner, the prompt's last logits, what the processors see first and its left padding."""
    seq2seq = req.start_id is not None
    family = family_of(req.model) if req.use_cache else None
    if seq2seq:
        first = torch.full((req.input_ids.shape[0], 1), req.start_id, dtype=torch.long, device=req.input_ids.device)
        padding, source = None, req.input_ids
    else:
        first, source = req.input_ids, None
        padding = (req.attention_mask != 0).int().argmax(dim=1)
    if family is not None:
        runner: Decoding = StaticRunner(req.model, family, seq2seq, first.shape[1] + req.max_new_tokens)
    else:
        runner = Runner(req.model, seq2seq=seq2seq, use_cache=req.use_cache)
    logits = runner.start(first, req.attention_mask, source=source)
    if req.eos is not None and int(req.eos.max()) >= logits.shape[-1]:
        raise ValueError(f"eos_token_id must be ids of the model's {logits.shape[-1]} output tokens: got "
                         f"{req.eos.tolist()}")
    return runner, logits, first, padding


@torch.inference_mode()
def _steps(req: Request) -> Iterator[Tensor]:
    """Greedy decoding or sampling: yield each step's ``[rows]`` new tokens (``pad`` for rows that ended)."""
    runner, logits, sequences, padding = _start(req)
    n = req.beams.num_return_sequences
    if n > 1:  # every copy of a row shares its prompt's cache
        index = torch.arange(sequences.shape[0], device=sequences.device).repeat_interleave(n)
        runner.reorder(index)
        logits, sequences = logits.index_select(0, index), sequences.index_select(0, index)
        padding = None if padding is None else padding.index_select(0, index)
    finished = torch.zeros(sequences.shape[0], dtype=torch.bool, device=sequences.device)
    for step in range(req.max_new_tokens):
        scores = process(logits, sequences, new_len=step, options=req.processors, skip=padding)
        if req.processors.do_sample:
            next_ids = sample(scores, req.processors.top_k, req.processors.top_p, req.generator)
        else:
            next_ids = scores.argmax(dim=-1)
        next_ids = next_ids.masked_fill(finished, req.pad)
        yield next_ids
        if req.eos is not None:
            finished |= torch.isin(next_ids, req.eos)
            if bool(finished.all()):
                return
        if step + 1 < req.max_new_tokens:
            if req.processors.uses_sequences:
                sequences = torch.cat([sequences, next_ids[:, None]], dim=1)
            logits = runner.step(next_ids)


@torch.inference_mode()
def generate(
    model: CachedLM, input_ids: Tensor, *, max_new_tokens: int, attention_mask: Tensor | None = None,
    num_beams: int = 1, length_penalty: float = 1.0, early_stopping: bool | str = False, num_return_sequences: int = 1,
    do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
    repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0, min_new_tokens: int = 0,
    eos_token_id: int | Sequence[int] | None = None, pad_token_id: int | None = None,
    decoder_start_token_id: int | None = None, generator: torch.Generator | None = None, use_cache: bool = True,
) -> Tensor:
    """Continue (decoder-only) or answer (encoder-decoder) each row of ``input_ids`` by up to ``max_new_tokens``.

    The arguments keep the names and meanings of ``transformers``' ``generate``; the same call gives the same tokens.

    Args:
        model: a bert4torch decoder or encoder-decoder with a key/value cache (module docstring).
        input_ids: ``[batch, prompt_len]`` prompts (encoder inputs for encoder-decoder models), left-padded when
            their lengths differ.
        max_new_tokens: how many tokens to add at most.
        attention_mask: ``[batch, prompt_len]`` 1 for real tokens, 0 for padding (default: all real).
        num_beams: beam search with this many beams (1: greedy decoding or sampling).
        length_penalty: a finished beam scores ``sum of log-probabilities / new_length ** length_penalty``.
        early_stopping: True: a row stops when it has ``num_beams`` finished beams; False: when no running beam can
            beat them by a heuristic; ``'never'``: by the exact bound.
        num_return_sequences: sequences per row (the best beams, or independent samples).
        do_sample: sample from the (filtered) distribution instead of taking the most likely token.
        temperature: divides the logits before sampling (> 0).
        top_k: sample among the ``top_k`` most likely tokens (None or 0: no limit).
        top_p: sample within the nucleus of mass ``top_p``, in (0, 1].
        repetition_penalty: > 1 makes tokens already in the sequence (prompt included) less likely.
        no_repeat_ngram_size: forbid repeating any n-gram of this size (0: off).
        min_new_tokens: the end ids are forbidden until this many tokens were made.
        eos_token_id: an end id or a list of them; a row stops after producing one.
        pad_token_id: filler after a row has ended (default: the first end id, else 0).
        decoder_start_token_id: first decoder token of encoder-decoder models (default: the model config's).
        generator: random generator for sampling (default: torch's global one).
        use_cache: keep the key/value cache (False recomputes every step: same tokens, slower).

    Returns:
        ``[batch * num_return_sequences, n]`` the new tokens only, ``n <= max_new_tokens`` (generation stops when every
        row has ended); the copies of one row are adjacent, best beam first.

    Raises:
        ValueError: an argument out of range (the message names it), a model without a cache, a prompt or a
            generation longer than the model's positions.
        FloatingPointError: the model returned NaN logits.
    """
    req = make_request(model, input_ids, dict(locals()))  # the arguments above, by name, validated in one place
    if req.beams.num_beams > 1:
        runner, logits, prompt, padding = _start(req)
        return beam_search(runner, logits, prompt, padding, req.eos, req.beams, req.processors)
    return torch.stack(list(_steps(req)), dim=1)


def _keyword_arguments(options: dict[str, Any], caller: str) -> dict[str, Any]:
    """``options`` completed with :func:`generate`'s defaults; a name ``generate`` does not take is a TypeError."""
    unknown = sorted(set(options) - set(_GENERATE_DEFAULTS))
    if unknown:
        raise TypeError(f"{caller}() got an unexpected keyword argument {unknown[0]!r} (it takes generate()'s "
                        "keyword arguments)")
    return {**_GENERATE_DEFAULTS, **options}


_GENERATE_SIGNATURE = inspect.signature(generate)
_GENERATE_DEFAULTS = {name: p.default for name, p in _GENERATE_SIGNATURE.parameters.items()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is not inspect.Parameter.empty}


@torch.inference_mode()
def stream_generate(model: CachedLM, input_ids: Tensor, *, max_new_tokens: int, **options: Any) -> Iterator[Tensor]:
    """:func:`generate` one step at a time: yield each step's ``[batch * num_return_sequences]`` new tokens.

    The keyword arguments are those of :func:`generate` (greedy decoding and sampling; beams are not streamable,
    since a beam's earlier tokens may change); the yielded steps stacked on dim 1 are exactly what :func:`generate`
    returns. Arguments are checked before the first step is made.

    Raises:
        ValueError: ``num_beams`` > 1, or any argument :func:`generate` refuses.
        TypeError: a keyword argument :func:`generate` does not take.
    """
    arguments = _keyword_arguments(options, "stream_generate")
    req = make_request(model, input_ids, {**arguments, "max_new_tokens": max_new_tokens})
    if req.beams.num_beams > 1:
        raise ValueError(f"stream_generate streams greedy decoding and sampling: num_beams must be 1, got "
                         f"{req.beams.num_beams}")
    return _steps(req)


# help() and IDEs show generate()'s keyword arguments, which are the ones accepted
stream_generate.__signature__ = _GENERATE_SIGNATURE.replace(  # type: ignore[attr-defined]
    return_annotation=Iterator[Tensor])
