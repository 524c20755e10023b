"""Batched generation with a key/value cache: greedy decoding and sampling.

Works with any model that follows the cache protocol of ``bert4torch.models`` (gpt2, llama, qwen2, ...):
``model([token_ids], attention_mask=..., past_key_values=cache, use_cache=True) -> (logits, new_cache)``.
The prompt is run once; every later step feeds one token per row, so a step costs the same at any length.
Rows of different lengths are left-padded and given an ``attention_mask``; positions follow the mask, so
a padded row decodes exactly as it would alone.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch
from torch import Tensor


class CachedLM(Protocol):
    def __call__(self, inputs: list[Tensor], *, attention_mask: Tensor | None = ..., past_key_values: Any = ...,
                 use_cache: bool = ...) -> Any: ...


def filter_logits(logits: Tensor, top_k: int | None = None, top_p: float | None = None) -> Tensor:
    """Set to -inf every logit outside the ``top_k`` largest and outside the ``top_p`` nucleus.

    The nucleus is the smallest set of the most likely tokens whose probability reaches ``top_p``; the most
    likely token is always kept.

    Args:
        logits: ``[rows, vocab]`` float scores (already divided by the temperature).
        top_k: keep this many tokens per row (None or 0: no limit).
        top_p: keep the nucleus of this mass, in (0, 1] (None or 1: no limit).
    """
    if top_k:
        kth = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        ascending, order = logits.sort(dim=-1)
        mass_below = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = mass_below <= 1.0 - top_p  # these tokens together hold no more than 1 - top_p
        drop[..., -1] = False
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


@torch.inference_mode()
def generate(
    model: CachedLM,
    input_ids: Tensor,
    *,
    max_new_tokens: int,
    attention_mask: Tensor | None = None,
    eos_token_id: int | None = None,
    pad_token_id: int = 0,
    do_sample: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Continue each row of ``input_ids`` by up to ``max_new_tokens`` tokens.

    Args:
        model: a decoder that follows the cache protocol (module docstring).
        input_ids: ``[batch, prompt_len]`` prompts, left-padded when their lengths differ.
        max_new_tokens: how many tokens to add at most.
        attention_mask: ``[batch, prompt_len]`` 1 for real tokens, 0 for left padding (default: all real).
        eos_token_id: a row stops after producing it; later positions of that row get ``pad_token_id``.
        pad_token_id: filler after a row has finished.
        do_sample: sample from the (filtered) distribution instead of taking the argmax.
        temperature: divides the logits before filtering and sampling.
        top_k: sample among the ``top_k`` most likely tokens.
        top_p: sample within the nucleus of mass ``top_p``.
        generator: random generator for sampling (default: torch's global one).

    Returns:
        ``[batch, n]`` the new tokens only (``n <= max_new_tokens``: generation stops when every row has ended).
    """
    if input_ids.dim() != 2 or input_ids.shape[1] == 0:
        raise ValueError(f"input_ids must be [batch, prompt_len] with prompt_len >= 1: got {tuple(input_ids.shape)}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1: got {max_new_tokens}")
    if do_sample and temperature <= 0:
        raise ValueError(f"temperature must be > 0 when sampling: got {temperature}")
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    batch = input_ids.shape[0]
    step_mask = torch.ones(batch, 1, dtype=attention_mask.dtype, device=input_ids.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    logits, cache = model([input_ids], attention_mask=attention_mask, past_key_values=None, use_cache=True)
    new_tokens: list[Tensor] = []
    for step in range(max_new_tokens):
        scores = logits[:, -1, :].float()
        if do_sample:
            scores = filter_logits(scores / temperature, top_k, top_p)
            next_ids = torch.multinomial(scores.softmax(dim=-1), 1, generator=generator).squeeze(1)
        else:
            next_ids = scores.argmax(dim=-1)
        next_ids = next_ids.masked_fill(finished, pad_token_id)
        new_tokens.append(next_ids)
        if eos_token_id is not None:
            finished |= next_ids == eos_token_id
            if bool(finished.all()):
                break
        if step + 1 < max_new_tokens:
            logits, cache = model([next_ids[:, None]], attention_mask=step_mask, past_key_values=cache, use_cache=True)
    return torch.stack(new_tokens, dim=1)
