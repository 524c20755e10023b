"""One generation call's model state: it runs the prompt, feeds each step's tokens and reorders rows for beams.

Decoder-only models (gpt2, llama, qwen2, ...) follow ``model([ids], attention_mask=..., past_key_values=cache,
use_cache=True) -> (logits, cache)``; encoder-decoder models (t5 variants, bart, ``transformer``) take
``model([[encoder_ids], [decoder_ids]], encoder_attention_mask=..., use_cache=True) -> (outputs, cache)`` first and
``model([None, [new_ids]], past_key_values=cache, use_cache=True)`` afterwards, the logits last in ``outputs``
(``bert4torch.models._cache``). Without the cache every step runs the whole sequence again (a check, and the path
for models without one). A runner is created per call: nothing here is shared between threads.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import torch
from torch import Tensor


def _parameters(model: Any) -> set[str]:
    try:
        return set(inspect.signature(getattr(model, "forward", model)).parameters)
    except (TypeError, ValueError):  # a builtin or C callable: assume the protocol
        return {"past_key_values", "use_cache", "attention_mask"}


def is_encoder_decoder(model: Any) -> bool:
    """Whether ``model`` follows the encoder-decoder call (it takes ``encoder_attention_mask``)."""
    return "encoder_attention_mask" in _parameters(model)


def check_has_cache(model: Any) -> None:
    """Raise ValueError naming the model when it takes no ``past_key_values``."""
    if "past_key_values" not in _parameters(model):
        raise ValueError(
            f"{type(model).__name__} has no key/value cache (its forward takes no past_key_values), so generate "
            "cannot run it; use AutoRegressiveDecoder with your own predict() for such models"
        )


def _last_logits(out: Any) -> Tensor:
    logits = out[-1] if isinstance(out, (list, tuple)) else out
    return checked(logits[:, -1, :].float())


def checked(last: Tensor) -> Tensor:
    """``last`` (a prompt's last logits), refused when NaN."""
    if bool(torch.isnan(last).any()):
        raise FloatingPointError("the model returned NaN logits: check its weights and inputs (a dtype overflow?); "
                                 "generation never follows a NaN score")
    return last


class Decoding(Protocol):
    """The model side of one generation: what greedy decoding, sampling and beam search drive."""

    def start(self, first: Tensor, mask: Tensor, source: Tensor | None = None) -> Tensor:
        """Run the prompt; return its last logits ``[rows, vocab]`` in float32."""
        ...

    def step(self, next_ids: Tensor) -> Tensor:
        """Feed one token per row; return the next logits."""
        ...

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` (they may repeat: beams, several sequences per prompt)."""
        ...


class Runner:
    """The model side of one generation: ``start`` once, then ``step`` per token, ``reorder`` for beams.

    Args:
        model: a cached decoder or encoder-decoder (module docstring).
        seq2seq: whether ``model`` is an encoder-decoder.
        use_cache: keep the key/value cache (False: recompute every step, same tokens, slower).
    """

    def __init__(self, model: Any, seq2seq: bool, use_cache: bool) -> None:
        self.model, self.seq2seq, self.use_cache = model, seq2seq, use_cache
        self.cache: Any = None
        self.tokens: Tensor | None = None  # uncached: every token so far; seq2seq: the decoder side
        self.mask: Tensor | None = None  # decoder-only: the attention mask of ``tokens``
        self.source: tuple[Tensor, Tensor] | None = None  # seq2seq: encoder ids and mask

    def start(self, first: Tensor, mask: Tensor, source: Tensor | None = None) -> Tensor:
        """Run the prompt (decoder-only: ``first`` with ``mask``; seq2seq: ``source`` with ``mask``, ``first`` the
        decoder start ids ``[rows, 1]``) and return the last logits ``[rows, vocab]`` in float32."""
        if self.seq2seq:
            assert source is not None
            self.source = (source, mask)
        else:
            self.mask = mask
        self.tokens = first
        return self._run(first, prefill=True)

    def step(self, next_ids: Tensor) -> Tensor:
        """Feed one token per row (``[rows]``) and return the next logits."""
        new = next_ids[:, None]
        assert self.tokens is not None
        self.tokens = torch.cat([self.tokens, new], dim=1)
        if self.mask is not None:
            self.mask = torch.cat([self.mask, torch.ones_like(new, dtype=self.mask.dtype)], dim=1)
        return self._run(new, prefill=False)

    def reorder(self, index: Tensor) -> None:
        """Keep rows ``index`` (beam search): the cache is reordered, never recomputed."""
        if self.cache is not None:
            self.cache = self.cache.reorder(index)
        self.tokens = None if self.tokens is None else self.tokens.index_select(0, index)
        self.mask = None if self.mask is None else self.mask.index_select(0, index)
        if self.source is not None:
            self.source = (self.source[0].index_select(0, index), self.source[1].index_select(0, index))

    def _run(self, new: Tensor, prefill: bool) -> Tensor:
        ids = new if self.use_cache else self.tokens
        assert ids is not None
        if self.seq2seq:
            assert self.source is not None
            dec_mask = torch.ones_like(ids)  # the start id may equal the padding id: mark every decoder token real
            if self.use_cache and not prefill:
                out, self.cache = self.model([None, [ids]], decoder_attention_mask=dec_mask,
                                             past_key_values=self.cache, use_cache=True)
                return _last_logits(out)
            src, src_mask = self.source
            out = self.model([[src], [ids]], encoder_attention_mask=src_mask, decoder_attention_mask=dec_mask,
                             past_key_values=None, use_cache=self.use_cache)
        else:
            assert self.mask is not None
            mask = self.mask[:, -ids.shape[1]:] if self.use_cache else self.mask
            out = self.model([ids], attention_mask=mask, past_key_values=self.cache if self.use_cache else None,
                             use_cache=self.use_cache)
        if self.use_cache:
            out, self.cache = out
        return _last_logits(out)
