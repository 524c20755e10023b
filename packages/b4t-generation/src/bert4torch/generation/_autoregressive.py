"""The original's general autoregressive decoder: beam search and random sampling over a user's ``predict``.

A subclass defines ``predict(self, inputs, output_ids, states)`` returning next-token scores for each row
(``[rows, vocab]``), decorated with ``@AutoRegressiveDecoder.wraps(default_rtype=...)`` which normalises
them to probabilities or log-probabilities and applies the temperature. Everything stays in torch on
``device``: no round trip through numpy per step.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._processors import check_temperature, check_top_k, check_top_p, is_int, sample

Inputs = Sequence[Any]
Prediction = tuple[torch.Tensor, Any]
_EPS = 1e-12


def _check_probabilities(probas: torch.Tensor, scores: torch.Tensor, temperature: float) -> None:
    """Refuse NaN probabilities, naming their cause: a temperature that overflows finite scores, else predict()."""
    if not bool(torch.isnan(probas).any()):
        return
    if temperature != 1 and bool(torch.isfinite(scores).all()):
        raise ValueError(f"temperature={temperature!r} is too small for these scores: dividing by it overflows "
                         "float32 (use topk=1 for greedy decoding)")
    raise FloatingPointError("predict() returned NaN scores: check the model's weights and inputs (a dtype "
                             "overflow?); decoding never follows a NaN score")


_WARNED: set[type] = set()  # decoder classes already warned that their 'probas' are logits


def _are_probabilities(scores: torch.Tensor, decoder: type) -> bool:
    """Whether scores declared ``'probas'`` are probabilities; logits (negative, rows not summing to 1) are not.

    bert4torch 0.2.5's gpt, gpt2 and gpt2_ml returned softmax probabilities and its examples declare
    ``default_rtype='probas'`` over them; ours return logits, which are then read as logits (one warning). The sum
    is allowed 1e-2 of slack: a half-precision softmax over a large vocabulary does not sum to 1 exactly."""
    scores = scores.float()
    if bool((scores >= 0).all() & ((scores.sum(dim=-1) - 1).abs() < 1e-2).all()):  # one read of the device
        return True
    if decoder not in _WARNED:
        _WARNED.add(decoder)
        warnings.warn(f"{decoder.__name__}.predict is declared default_rtype='probas' but returned scores that are not "
                      "probabilities (negative, or rows not summing to 1): they are read as logits. The gpt models "
                      "return logits (0.2.5 returned softmax probabilities): declare default_rtype='logits'",
                      UserWarning, stacklevel=4)
    return False


def _check_min_ends(min_ends: int) -> None:
    if not is_int(min_ends) or min_ends < 1:
        raise ValueError(f"min_ends must be an int >= 1 (how many end ids finish a sequence): got {min_ends!r}")


def _reorder_states(states: Any, rows: torch.Tensor) -> Any:
    """A cache-like state (``bert4torch.models.KVCache``) follows the rows that survive; other states are the user's."""
    reorder = getattr(states, "reorder", None)
    return reorder(rows) if callable(reorder) else states


def _to_tensor(x: Any, device: torch.device, add_btz_dim: bool) -> torch.Tensor:
    """One input on ``device``; ``add_btz_dim`` gives a list or a 1-D tensor its batch dimension. A tensor of two
    dimensions or more is taken as batched, as the original took tensors (an encoder's ``[hidden, mask]`` output)."""
    batched = isinstance(x, torch.Tensor) and x.dim() >= 2
    t = (x if isinstance(x, torch.Tensor) else torch.as_tensor(x)).to(device)
    return t.unsqueeze(0) if add_btz_dim and not batched else t


class AutoRegressiveDecoder:
    """Base class for autoregressive generation by beam search or sampling.

    Args:
        start_id: the first output token (``None``: start from an empty output).
        end_id: the token that ends a sequence (``None``: none; ``beam_search`` needs one).
        maxlen: the largest number of steps.
        minlen: sequences shorter than this are not allowed to end.
        device: where the inputs and outputs live.
    """

    def __init__(self, start_id: int | None, end_id: int | None, maxlen: int, minlen: int = 1,
                 device: str | torch.device = "cpu") -> None:
        for name, value, low in (("maxlen", maxlen, 1), ("minlen", minlen, 0)):
            if not is_int(value) or value < low:
                raise ValueError(f"{name} must be an int >= {low}: got {value!r}")
        for name, value in (("start_id", start_id), ("end_id", end_id)):
            if value is not None and (not is_int(value) or value < 0):
                raise ValueError(f"{name} must be a token id (an int >= 0) or None: got {value!r}")
        self.start_id, self.end_id, self.maxlen, self.minlen = start_id, end_id, maxlen, minlen
        self.device = torch.device(device)
        if start_id is None:
            self.first_output_ids = torch.empty((1, 0), dtype=torch.long, device=self.device)
        else:
            self.first_output_ids = torch.tensor([[start_id]], dtype=torch.long, device=self.device)

    @staticmethod
    def wraps(
        default_rtype: str = "probas", use_states: bool = False
    ) -> Callable[[Callable[..., Any]], Callable[..., Prediction]]:
        """Decorate ``predict`` so that it returns ``(probas or log-probas, states)`` at a temperature.

        Args:
            default_rtype: what the user's ``predict`` returns: ``'probas'`` (normalised) or ``'logits'``.
            use_states: whether ``predict`` returns ``(scores, states)`` instead of scores alone.
        """
        if default_rtype not in ("probas", "logits"):
            raise ValueError(f"default_rtype must be 'probas' or 'logits': got {default_rtype!r}")

        def decorator(predict: Callable[..., Any]) -> Callable[..., Prediction]:
            @functools.wraps(predict)
            def new_predict(self: AutoRegressiveDecoder, inputs: Inputs, output_ids: torch.Tensor, states: Any,
                            temperature: float = 1, rtype: str = default_rtype) -> Prediction:
                if rtype not in ("probas", "logits"):
                    raise ValueError(f"rtype must be 'probas' or 'logits': got {rtype!r}")
                out = predict(self, inputs, output_ids, states)
                scores, states = out if use_states else (out, None)
                if default_rtype == "logits" or not _are_probabilities(scores, type(self)):
                    probas = torch.softmax(scores.float() / temperature, dim=-1)
                elif temperature != 1:
                    probas = scores.float().pow(1.0 / temperature)
                    probas = probas / probas.sum(dim=-1, keepdim=True)
                else:
                    probas = scores.float()
                _check_probabilities(probas, scores, temperature)  # every prediction passes here, once
                if rtype == "probas":
                    return probas, states
                return torch.log(probas + _EPS), states

            return new_predict

        return decorator

    def predict(self, inputs: Inputs, output_ids: torch.Tensor, states: Any = None, temperature: float = 1,
                rtype: str = "probas") -> Prediction:
        """Next-token scores for each row; override it (decorated with :meth:`wraps`)."""
        raise NotImplementedError("subclass AutoRegressiveDecoder and define predict(), decorated with wraps()")

    def _prepare(self, inputs: Inputs, add_btz_dim: bool) -> list[torch.Tensor]:
        if isinstance(inputs, (torch.Tensor, str)):
            raise TypeError("inputs must be a list or tuple of inputs (e.g. [token_ids, segment_ids])")
        return [_to_tensor(x, self.device, add_btz_dim) for x in inputs]

    @torch.inference_mode()
    def beam_search(self, inputs_raw: Inputs, topk: int, states: Any = None, temperature: float = 1,
                    min_ends: int = 1, add_btz_dim: bool = True) -> torch.Tensor:
        """The best sequence found by beam search with ``topk`` beams.

        Args:
            inputs_raw: the model inputs for one example (a batch dimension is added when ``add_btz_dim``).
            topk: the beam size.
            states: passed to ``predict`` when it uses states.
            temperature: divides the logits.
            min_ends: how many ``end_id`` a sequence needs before it counts as finished.
            add_btz_dim: whether to add the batch dimension to each list or 1-D tensor input (a tensor of two
                dimensions or more already has one).

        Returns:
            The output ids of the best beam, a 1-D tensor (``start_id`` included when set).
        """
        if self.end_id is None:
            raise ValueError("beam_search needs an end_id: pass end_id=<the end token id> to the decoder")
        if not is_int(topk) or topk < 1:
            raise ValueError(f"topk must be a positive int (the beam size): got {topk!r}")
        check_temperature(temperature, "1 keeps the model's scores; use topk=1 for greedy decoding")
        _check_min_ends(min_ends)
        inputs = self._prepare(inputs_raw, add_btz_dim)
        output_ids = self.first_output_ids
        output_scores = torch.zeros(1, device=self.device)
        for _ in range(self.maxlen):
            scores, states = self.predict(inputs, output_ids, states, temperature, "logits")
            scores = output_scores.view(-1, 1) + scores
            vocab = scores.shape[1]
            output_scores, indices = scores.view(-1).topk(min(topk, scores.numel()))
            rows, next_ids = indices // vocab, indices % vocab
            output_ids = torch.cat([output_ids[rows], next_ids.view(-1, 1)], dim=1)
            inputs = [i[rows] for i in inputs]  # each beam keeps the inputs of the row it extends
            states = _reorder_states(states, rows)
            is_end = output_ids[:, -1] == self.end_id
            end_counts = (output_ids == self.end_id).sum(1)
            if output_ids.shape[1] >= self.minlen:
                best = int(output_scores.argmax())
                if is_end[best] and end_counts[best] >= min_ends:
                    return output_ids[best]
                keep = ~is_end | (end_counts < min_ends)
                if not keep.all():  # finished but not best: drop them and shrink the beam
                    inputs = [i[keep] for i in inputs]
                    states = _reorder_states(states, keep.nonzero().view(-1))
                    output_ids, output_scores = output_ids[keep], output_scores[keep]
                    topk = int(keep.sum())
        return output_ids[output_scores.argmax()]

    @torch.inference_mode()
    def random_sample(self, inputs: Inputs, n: int, topk: int | None = None, topp: float | None = None,
                      states: Any = None, temperature: float = 1, min_ends: int = 1,
                      add_btz_dim: bool = True) -> list[torch.Tensor]:
        """``n`` sequences sampled independently, optionally from the ``topk`` tokens or the ``topp`` nucleus.

        Returns:
            A list of ``n`` 1-D tensors of output ids, finished ones first.
        """
        if not is_int(n) or n < 1:
            raise ValueError(f"n must be an int >= 1 (how many samples): got {n!r}")
        check_top_k(topk, name="topk")
        check_top_p(topp, name="topp")
        check_temperature(temperature, "1 keeps the model's scores; use topk=1 for greedy decoding")
        _check_min_ends(min_ends)
        batch = self._prepare(inputs, add_btz_dim)
        output_ids = self.first_output_ids
        results: list[torch.Tensor] = []
        for step in range(self.maxlen):
            probas, states = self.predict(batch, output_ids, states, temperature, "probas")
            if step == 0:
                check_top_k(topk, probas.shape[-1], name="topk")
                probas = probas.repeat_interleave(n, dim=0)
                batch = [i.repeat_interleave(n, dim=0) for i in batch]
                output_ids = output_ids.repeat_interleave(n, dim=0)
                rows = torch.arange(probas.shape[0] // n, device=self.device)
                states = _reorder_states(states, rows.repeat_interleave(n))
            # the sampler of generate(): top-k first, then the nucleus of the renormalised top-k
            sample_ids = sample(torch.log(probas / probas.sum(dim=1, keepdim=True)), topk, topp)
            output_ids = torch.cat([output_ids, sample_ids[:, None]], dim=1)
            if self.end_id is None:  # no end token: every sample runs to maxlen
                continue
            is_end = output_ids[:, -1] == self.end_id
            end_counts = (output_ids == self.end_id).sum(1)
            if output_ids.shape[1] >= self.minlen:
                done = is_end & (end_counts >= min_ends)
                if done.any():
                    results.extend(output_ids[done])
                    keep = ~done
                    batch = [i[keep] for i in batch]
                    states = _reorder_states(states, keep.nonzero().view(-1))
                    output_ids = output_ids[keep]
                    if len(output_ids) == 0:
                        break
        results.extend(output_ids)
        return results
