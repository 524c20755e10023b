"""One ``generate`` call's arguments, validated: every error names its argument and says what it accepts."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ._beam import BeamOptions
from ._processors import ProcessOptions, check_temperature, check_top_k, check_top_p, is_int, is_real, top_k_limit
from ._runner import check_has_cache, is_encoder_decoder


@dataclass(frozen=True)
class Request:
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
    if not is_int(num_beams) or num_beams < 1:
        raise ValueError(f"num_beams must be an int >= 1: got {num_beams!r}")
    if not is_int(num_return_sequences) or num_return_sequences < 1:
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
    elif not is_real(temperature):
        raise ValueError(f"temperature must be a number (it is used when do_sample=True): got {temperature!r}")
    check_top_k(top_k_limit(top_k))
    check_top_p(top_p)
    if not is_real(repetition_penalty) or not 0 < repetition_penalty < math.inf:
        raise ValueError(f"repetition_penalty must be a finite number > 0 (1.0: none): got {repetition_penalty!r}")
    if not is_int(no_repeat_ngram_size) or no_repeat_ngram_size < 0:
        raise ValueError(f"no_repeat_ngram_size must be an int >= 0 (0: none): got {no_repeat_ngram_size!r}")
    if not is_int(min_new_tokens) or min_new_tokens < 0:
        raise ValueError(f"min_new_tokens must be an int >= 0: got {min_new_tokens!r}")


def _check_options(a: dict[str, Any]) -> None:
    """The arguments that only need a type or a range: each error names its argument."""
    if not is_int(a["max_new_tokens"]) or a["max_new_tokens"] < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1: got {a['max_new_tokens']!r}")
    for name in ("do_sample", "use_cache"):
        if not isinstance(a[name], bool):
            raise ValueError(f"{name} must be True or False: got {a[name]!r}")
    for name in ("pad_token_id", "decoder_start_token_id"):
        if a[name] is not None and (not is_int(a[name]) or a[name] < 0):
            raise ValueError(f"{name} must be a token id (an int >= 0) or None: got {a[name]!r}")
    penalty = a["length_penalty"]
    if not is_real(penalty) or not math.isfinite(penalty):
        raise ValueError(f"length_penalty must be a finite number (1.0: none): got {penalty!r}")
    if a["generator"] is not None and not isinstance(a["generator"], torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None: got {type(a['generator']).__name__}")


def _check_vocabulary(model: Any, input_ids: Tensor) -> None:
    """Token ids must index the model's vocabulary (its embedding would fail with an opaque IndexError)."""
    low, high = int(input_ids.min()), int(input_ids.max())
    config = getattr(model, "config", None)
    # the encoder's vocabulary if apart; else the rows left after keep_tokens/compound_tokens
    vocab = (getattr(config, "src_vocab_size", None) or getattr(config, "effective_vocab_size", None)
             or getattr(config, "vocab_size", None))
    if low < 0 or (is_int(vocab) and high >= vocab):
        bound = f"[0, {vocab})" if is_int(vocab) else ">= 0"
        raise ValueError(f"input_ids must be token ids in {bound}: got ids from {low} to {high}")


def _end_ids(eos_token_id: int | Sequence[int] | None, device: torch.device) -> Tensor | None:
    if eos_token_id is None:
        return None
    ids = [eos_token_id] if isinstance(eos_token_id, int) else eos_token_id
    if not isinstance(ids, (list, tuple)) or not ids or not all(is_int(i) and i >= 0 for i in ids):
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


def make_request(model: Any, input_ids: Tensor, a: dict[str, Any]) -> Request:
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
    return Request(model=model, input_ids=input_ids, attention_mask=mask, max_new_tokens=a["max_new_tokens"],
                    eos=eos, pad=pad, start_id=_start_id(model, a["decoder_start_token_id"]) if seq2seq else None,
                    generator=a["generator"], use_cache=a["use_cache"], processors=processors, beams=beams)
