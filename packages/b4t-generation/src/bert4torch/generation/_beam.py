"""Beam search on the key/value cache, step for step the algorithm of ``transformers`` (its vectorised form).

Each batch row keeps ``num_beams`` running hypotheses and ``num_beams`` finished ones. A step scores every
continuation of every running beam, takes the best ``max(2, 1 + number of end ids) * num_beams`` of them (so that
enough unfinished ones remain), moves those that end (an end id, or the length limit) among the best ``num_beams``
into the finished set with their length-normalised score, and continues with the best unfinished ones. The cache
rows follow the surviving beams through :meth:`Decoding.reorder`; nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._processors import ProcessOptions, process
from ._runner import Decoding

_DROP = -1.0e9  # the score transformers gives impossible candidates (finite, so sums stay ordered)


@dataclass(frozen=True)
class BeamOptions:
    """The beam settings of one call, with ``transformers``' meanings."""

    num_beams: int
    length_penalty: float
    early_stopping: bool | str
    num_return_sequences: int
    max_new_tokens: int
    pad: int


def _gather(t: Tensor, index: Tensor) -> Tensor:
    """Pick beams ``index`` ``[batch, k]`` along dim 1 of ``t`` ``[batch, beams, ...]``."""
    while index.dim() < t.dim():
        index = index.unsqueeze(-1)
    return torch.take_along_dim(t, index, dim=1)


@dataclass
class _Finished:
    """The finished hypotheses of every batch row: ``[batch, beams, max_len]`` ids, scores, flags, new lengths."""

    seqs: Tensor
    scores: Tensor
    done: Tensor
    lengths: Tensor

    def merge(self, seqs: Tensor, scores: Tensor, done: Tensor, new_len: int) -> None:
        """Keep the best ``beams`` of the current finished set and the candidates ``seqs``/``scores``/``done``."""
        lengths = torch.full_like(done, new_len, dtype=torch.long)
        best = torch.cat((self.scores, scores), dim=1).topk(self.scores.shape[1]).indices
        self.seqs = _gather(torch.cat((self.seqs, seqs), dim=1), best)
        self.scores = _gather(torch.cat((self.scores, scores), dim=1), best)
        self.done = _gather(torch.cat((self.done, done), dim=1), best)
        self.lengths = _gather(torch.cat((self.lengths, lengths), dim=1), best)


def _finish(fin: _Finished, candidates: Tensor, top_scores: Tensor, just_done: Tensor, unsatisfied: Tensor,
            new_len: int, opts: BeamOptions) -> None:
    """Move the candidates that just ended among the best into the finished set, with length-normalised scores."""
    done_scores = top_scores / (new_len ** opts.length_penalty)
    done_scores += (fin.done.all(dim=-1, keepdim=True) & (opts.early_stopping is True)).to(torch.float32) * _DROP
    done_scores += (~unsatisfied).to(torch.float32) * _DROP
    done_scores += (~just_done) * _DROP
    fin.merge(candidates, done_scores, just_done, new_len)


def _still_improvable(unsatisfied: Tensor, running_scores: Tensor, fin: _Finished, new_len: int,
                      opts: BeamOptions) -> Tensor:
    """Rows whose best running beam may still beat their worst finished one (``transformers``' heuristic)."""
    hypothetical = opts.max_new_tokens if opts.early_stopping == "never" and opts.length_penalty > 0.0 else new_len
    best_running = running_scores[:, :1] / (hypothetical ** opts.length_penalty)
    worst_finished = torch.where(fin.done, fin.scores.min(dim=1, keepdim=True).values, _DROP)
    return unsatisfied & (best_running > worst_finished).any(dim=-1, keepdim=True)


def _initial_beams(prompt: Tensor, beams: int, max_len: int, pad: int) -> tuple[Tensor, Tensor, _Finished]:
    """Running beams (every copy of the prompt, only the first alive) and an empty finished set."""
    batch, prompt_len = prompt.shape
    running = torch.full((batch, beams, max_len), pad, dtype=torch.long, device=prompt.device)
    running[:, :, :prompt_len] = prompt[:, None, :]
    later = torch.arange(1, beams, device=prompt.device)
    running_scores = torch.zeros(batch, beams, device=prompt.device).index_fill(1, later, _DROP)
    fin = _Finished(running.clone(), torch.full_like(running_scores, _DROP),
                    torch.zeros(batch, beams, dtype=torch.bool, device=prompt.device),
                    torch.zeros(batch, beams, dtype=torch.long, device=prompt.device))
    return running, running_scores, fin


def beam_search(runner: Decoding, logits: Tensor, prompt: Tensor, padding: Tensor | None, eos: Tensor | None,
                opts: BeamOptions, processors: ProcessOptions) -> Tensor:
    """Beam search from the prompt's last logits; returns ``[batch * num_return_sequences, n]`` new tokens.

    Args:
        runner: the model state after the prompt (``batch`` rows); it is expanded to ``batch * num_beams`` rows.
        logits: ``[batch, vocab]`` the prompt's last logits.
        prompt: ``[batch, prompt_len]`` the padded prompt (decoder-only) or the decoder start ids (seq2seq).
        padding: ``[batch]`` left padding of each prompt (ignored by the repetition penalty), or None.
        eos: 1-D end ids, or None.
        opts: the beam settings.
        processors: repetition penalty, n-gram ban, min_new_tokens.

    Returns:
        The best ``num_return_sequences`` hypotheses per row, best first, each padded with ``pad``.
    """
    batch, prompt_len = prompt.shape
    beams, vocab = opts.num_beams, logits.shape[-1]
    max_len = prompt_len + opts.max_new_tokens
    expand = torch.arange(batch, device=prompt.device).repeat_interleave(beams)
    runner.reorder(expand)
    logits = logits.index_select(0, expand)
    padding = None if padding is None else padding.index_select(0, expand)
    running, running_scores, fin = _initial_beams(prompt, beams, max_len, opts.pad)
    keep = max(2, 1 + (0 if eos is None else len(eos))) * beams
    among_best = torch.arange(keep, device=prompt.device) < beams
    unsatisfied = torch.ones(batch, 1, dtype=torch.bool, device=prompt.device)
    offsets = torch.arange(batch, device=prompt.device)[:, None] * beams
    identity = torch.arange(batch * beams, device=prompt.device)
    for cur in range(prompt_len, max_len):
        flat = running[:, :, :cur].reshape(batch * beams, cur) if processors.uses_sequences else None
        log_probs = process(torch.log_softmax(logits, dim=-1), flat, new_len=cur - prompt_len, options=processors,
                            skip=padding)
        total = (log_probs.view(batch, beams, vocab) + running_scores[:, :, None]).view(batch, beams * vocab)
        top_scores, top_index = total.topk(keep)
        source_beam = top_index // vocab
        candidates = _gather(running, source_beam)
        candidates[:, :, cur] = top_index % vocab
        ends = torch.isin(candidates[:, :, cur], eos) if eos is not None else torch.zeros_like(candidates[:, :, cur],
                                                                                               dtype=torch.bool)
        ends = ends | (cur + 1 >= max_len)
        live_scores = top_scores + ends.to(torch.float32) * _DROP
        chosen = live_scores.topk(beams).indices
        running, running_scores = _gather(candidates, chosen), _gather(live_scores, chosen)
        just_done = ends & among_best[None, :]
        if bool(just_done.any()):  # otherwise every candidate scores below the finished set: it stays as it is
            _finish(fin, candidates, top_scores, just_done, unsatisfied, cur + 1 - prompt_len, opts)
        unsatisfied = _still_improvable(unsatisfied, running_scores, fin, cur + 1 - prompt_len, opts)
        all_closed = bool(fin.done.all()) and opts.early_stopping is True
        if not bool(unsatisfied.any()) or all_closed or bool(ends.all()):
            break
        order = (_gather(source_beam, chosen) + offsets).view(-1)
        if not torch.equal(order, identity):  # every beam extends itself: the cache rows are already in place
            runner.reorder(order)
        logits = runner.step(running[:, :, cur].reshape(-1))
    return _best_new_tokens(fin, prompt_len, opts)


def _best_new_tokens(fin: _Finished, prompt_len: int, opts: BeamOptions) -> Tensor:
    n = opts.num_return_sequences
    seqs = fin.seqs[:, :n].reshape(-1, fin.seqs.shape[-1])
    lengths = fin.lengths[:, :n].reshape(-1)
    width = int(lengths.max())
    new = seqs[:, prompt_len:prompt_len + width]
    filler = torch.arange(width, device=new.device)[None, :] >= lengths[:, None]
    return new.masked_fill(filler, opts.pad)
