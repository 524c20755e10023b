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
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor

from ._beam import BeamOptions, beam_search
from ._processors import ProcessOptions, check_temperature, check_top_k, check_top_p, process, sample, top_k_limit
from ._runner import Decoding, Runner, check_has_cache, is_encoder_decoder
from ._static import StaticRunner, family_of


class CachedLM(Protocol):
    def __call__(self, inputs: list[Any], *, past_key_values: Any = ..., use_cache: bool = ...) -> Any: ...


@dataclass(frozen=True)
class _Request:
    """One call's validated arguments (built per call: nothing is shared between calls)."""

    model: Any
    input_ids: Tensor
    attention_mask: Tensor
    max_new_tokens: int
    eos: Tensor | None
    pad: int
    start_id: int | None  # seq2seq only
    generator: torch.Generator | None
    use_cache: bool
    processors: ProcessOptions
    beams: BeamOptions


def _check_ids(input_ids: Any, attention_mask: Any) -> Tensor:
    if not isinstance(input_ids, Tensor) or input_ids.dim() != 2 or input_ids.shape[1] == 0 or input_ids.shape[0] == 0:
        shape = tuple(input_ids.shape) if isinstance(input_ids, Tensor) else type(input_ids).__name__
        raise ValueError(f"input_ids must be a [batch, prompt_len] tensor with batch, prompt_len >= 1: got {shape}")
    if input_ids.is_floating_point():
        raise ValueError(f"input_ids must hold integer token ids: got dtype {input_ids.dtype}")
    if attention_mask is None:
        return torch.ones_like(input_ids)
    if not isinstance(attention_mask, Tensor) or attention_mask.shape != input_ids.shape:
        got = tuple(attention_mask.shape) if isinstance(attention_mask, Tensor) else type(attention_mask).__name__
        raise ValueError(f"attention_mask must have the shape of input_ids {tuple(input_ids.shape)}: got {got}")
    if not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
        raise ValueError("attention_mask must hold 0 (padding) and 1 (real token) only")
    if not bool(attention_mask.bool().any(dim=1).all()):
        raise ValueError("attention_mask has a row without any real token: every prompt needs at least one")
    return attention_mask.to(input_ids.device).long()


def _check_positions(model: Any, mask: Tensor, max_new_tokens: int, seq2seq: bool) -> None:
    """The positions a learned position table must hold: the prompt, then every fed token."""
    limit = getattr(getattr(model, "config", None), "max_position", None)
    if not isinstance(limit, int):
        return  # relative or rotary positions: no table to outgrow
    prompt = int(mask.shape[1]) if seq2seq else int(mask.sum(dim=1).max())
    if prompt > limit:
        raise ValueError(f"the prompt has {prompt} tokens, more than the model's {limit} positions (config "
                         f"max_position): shorten input_ids to at most {limit} tokens")
    used = max_new_tokens if seq2seq else prompt + max_new_tokens - 1  # the last new token is never fed back
    if used > limit:
        room = limit if seq2seq else limit - prompt + 1
        raise ValueError(f"max_new_tokens={max_new_tokens} runs past the model's {limit} positions (config "
                         f"max_position) after a {prompt}-token prompt: use max_new_tokens <= {room}")


def _check_beams(num_beams: int, num_return_sequences: int, do_sample: bool, early_stopping: Any) -> None:
    if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1: got {num_beams!r}")
    if isinstance(num_return_sequences, bool) or not isinstance(num_return_sequences, int) or num_return_sequences < 1:
        raise ValueError(f"num_return_sequences must be an int >= 1: got {num_return_sequences!r}")
    if num_beams > 1 and num_return_sequences > num_beams:
        raise ValueError(f"num_return_sequences={num_return_sequences} is more than num_beams={num_beams}: beam search "
                         "returns at most num_beams hypotheses per row")
    if num_beams == 1 and num_return_sequences > 1 and not do_sample:
        raise ValueError(f"num_return_sequences={num_return_sequences} needs do_sample=True or num_beams >= "
                         f"{num_return_sequences}: greedy decoding returns one sequence per row")
    if num_beams > 1 and do_sample:
        raise ValueError("beam sampling (num_beams > 1 with do_sample=True) is not supported: choose one")
    if not (isinstance(early_stopping, bool) or early_stopping == "never"):
        raise ValueError(f"early_stopping must be True, False or 'never': got {early_stopping!r}")


def _check_sampling(do_sample: bool, temperature: float, top_k: int | None, top_p: float | None,
                    repetition_penalty: float, no_repeat_ngram_size: int, min_new_tokens: int) -> None:
    if do_sample:
        check_temperature(temperature, "when sampling; for greedy decoding use do_sample=False")
    elif isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise ValueError(f"temperature must be a number (it is used when do_sample=True): got {temperature!r}")
    check_top_k(top_k_limit(top_k))
    check_top_p(top_p)
    if isinstance(repetition_penalty, bool) or not isinstance(repetition_penalty, (int, float)) or not (
            0 < repetition_penalty < math.inf):
        raise ValueError(f"repetition_penalty must be a finite number > 0 (1.0: none): got {repetition_penalty!r}")
    if isinstance(no_repeat_ngram_size, bool) or not isinstance(no_repeat_ngram_size, int) or no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be an int >= 0 (0: none): got {no_repeat_ngram_size!r}")
    if isinstance(min_new_tokens, bool) or not isinstance(min_new_tokens, int) or min_new_tokens < 0:
        raise ValueError(f"min_new_tokens must be an int >= 0: got {min_new_tokens!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_options(a: dict[str, Any]) -> None:
    """The arguments that only need a type or a range: each error names its argument."""
    if not _is_int(a["max_new_tokens"]) or a["max_new_tokens"] < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1: got {a['max_new_tokens']!r}")
    for name in ("do_sample", "use_cache"):
        if not isinstance(a[name], bool):
            raise ValueError(f"{name} must be True or False: got {a[name]!r}")
    for name in ("pad_token_id", "decoder_start_token_id"):
        if a[name] is not None and (not _is_int(a[name]) or a[name] < 0):
            raise ValueError(f"{name} must be a token id (an int >= 0) or None: got {a[name]!r}")
    penalty = a["length_penalty"]
    if isinstance(penalty, bool) or not isinstance(penalty, (int, float)) or not math.isfinite(penalty):
        raise ValueError(f"length_penalty must be a finite number (1.0: none): got {penalty!r}")
    if a["generator"] is not None and not isinstance(a["generator"], torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None: got {type(a['generator']).__name__}")


def _check_vocabulary(model: Any, input_ids: Tensor) -> None:
    """Token ids must index the model's vocabulary (its embedding would fail with an opaque IndexError)."""
    low, high = int(input_ids.min()), int(input_ids.max())
    config = getattr(model, "config", None)
    vocab = getattr(config, "src_vocab_size", None) or getattr(config, "vocab_size", None)  # the encoder's, if apart
    if low < 0 or (_is_int(vocab) and high >= vocab):
        bound = f"[0, {vocab})" if _is_int(vocab) else ">= 0"
        raise ValueError(f"input_ids must be token ids in {bound}: got ids from {low} to {high}")


def _end_ids(eos_token_id: int | Sequence[int] | None, device: torch.device) -> Tensor | None:
    if eos_token_id is None:
        return None
    ids = [eos_token_id] if isinstance(eos_token_id, int) else eos_token_id
    if not isinstance(ids, (list, tuple)) or not ids or not all(_is_int(i) and i >= 0 for i in ids):
        raise ValueError(f"eos_token_id must be a token id or a non-empty list of them: got {eos_token_id!r}")
    return torch.tensor(ids, dtype=torch.long, device=device)


def _start_id(model: Any, given: int | None) -> int:
    if given is not None:
        return given
    try:
        start = model.to_hf_config().get("decoder_start_token_id")
    except (AttributeError, NotImplementedError):
        start = None
    if start is None:
        raise ValueError(f"{type(model).__name__} does not name its decoder_start_token_id: pass "
                         "decoder_start_token_id=<the first decoder token id>")
    return int(start)


# numeric options where None means the default, as in ``transformers``' GenerationConfig
_UNSET = {"temperature": 1.0, "repetition_penalty": 1.0, "length_penalty": 1.0, "no_repeat_ngram_size": 0,
          "min_new_tokens": 0}


def _request(model: Any, input_ids: Tensor, a: dict[str, Any]) -> _Request:
    """Validate the arguments of :func:`generate` (``a``: its keyword arguments) into a request."""
    a = {**a, **{name: value for name, value in _UNSET.items() if a[name] is None}}
    check_has_cache(model)
    mask = _check_ids(input_ids, a["attention_mask"])
    _check_vocabulary(model, input_ids)
    _check_options(a)
    _check_beams(a["num_beams"], a["num_return_sequences"], a["do_sample"], a["early_stopping"])
    _check_sampling(a["do_sample"], a["temperature"], a["top_k"], a["top_p"], a["repetition_penalty"],
                    a["no_repeat_ngram_size"], a["min_new_tokens"])
    seq2seq = is_encoder_decoder(model)
    _check_positions(model, mask, a["max_new_tokens"], seq2seq)
    eos = _end_ids(a["eos_token_id"], input_ids.device)
    pad = a["pad_token_id"] if a["pad_token_id"] is not None else (int(eos[0]) if eos is not None else 0)
    processors = ProcessOptions(
        repetition_penalty=a["repetition_penalty"], no_repeat_ngram_size=a["no_repeat_ngram_size"],
        min_new_tokens=a["min_new_tokens"], eos=eos, do_sample=a["do_sample"], temperature=a["temperature"],
        top_k=top_k_limit(a["top_k"]), top_p=a["top_p"],
    )
    beams = BeamOptions(num_beams=a["num_beams"], length_penalty=float(a["length_penalty"]),
                        early_stopping=a["early_stopping"], num_return_sequences=a["num_return_sequences"],
                        max_new_tokens=a["max_new_tokens"], pad=pad)
    return _Request(model=model, input_ids=input_ids, attention_mask=mask, max_new_tokens=a["max_new_tokens"],
                    eos=eos, pad=pad, start_id=_start_id(model, a["decoder_start_token_id"]) if seq2seq else None,
                    generator=a["generator"], use_cache=a["use_cache"], processors=processors, beams=beams)


def _start(req: _Request) -> tuple[Decoding, Tensor, Tensor, Tensor | None]:
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
    return runner, runner.start(first, req.attention_mask, source=source), first, padding


@torch.inference_mode()
def _steps(req: _Request) -> Iterator[Tensor]:
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
    req = _request(model, input_ids, dict(locals()))  # the arguments above, by name, validated in one place
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
    req = _request(model, input_ids, {**arguments, "max_new_tokens": max_new_tokens})
    if req.beams.num_beams > 1:
        raise ValueError(f"stream_generate streams greedy decoding and sampling: num_beams must be 1, got "
                         f"{req.beams.num_beams}")
    return _steps(req)


# help() and IDEs show generate()'s keyword arguments, which are the ones accepted
stream_generate.__signature__ = _GENERATE_SIGNATURE.replace(  # type: ignore[attr-defined]
    return_annotation=Iterator[Tensor])
