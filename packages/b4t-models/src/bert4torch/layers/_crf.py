"""Linear-chain CRF with the original's reductions, Viterbi and n-best decoding (batch first)."""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    """Conditional random field over ``num_tags`` tags (parameters ``transitions``, ``start_transitions``, ``end_transitions``).

    Args:
        num_tags: number of tags.
        init_transitions: optional ``[transitions (K x K), start (K), end (K)]`` to start from.
        freeze: keep the given transitions fixed (stored as buffers).
    """

    def __init__(self, num_tags: int, init_transitions: list | tuple | None = None, freeze: bool = False) -> None:
        super().__init__()
        if num_tags <= 0:
            raise ValueError(f"invalid number of tags: {num_tags}")
        self.num_tags = num_tags
        if init_transitions is None:
            if freeze:
                raise ValueError("freeze=True needs init_transitions")
            self.transitions = nn.Parameter(torch.empty(num_tags, num_tags).uniform_(-0.1, 0.1))
            self.start_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
            self.end_transitions = nn.Parameter(torch.empty(num_tags).uniform_(-0.1, 0.1))
        else:
            values = [torch.as_tensor(x, dtype=torch.float) for x in init_transitions]
            if values[0].shape != (num_tags, num_tags) or values[1].shape != (num_tags,) or values[2].shape != (num_tags,):
                raise ValueError("init_transitions must be [transitions (K x K), start (K), end (K)]")
            for name, value in zip(("transitions", "start_transitions", "end_transitions"), values):
                if freeze:
                    self.register_buffer(name, value)
                else:
                    setattr(self, name, nn.Parameter(value))

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    def forward(self, emissions: torch.Tensor, mask: torch.Tensor, tags: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """Negative log-likelihood of ``tags``.

        Args:
            emissions: ``[btz, seq, num_tags]``.
            mask: ``[btz, seq]``, 1 for real tokens (left-aligned; the first column must be all 1).
            tags: ``[btz, seq]`` gold tags.
            reduction: ``'none'`` (per sequence), ``'sum'``, ``'mean'`` (over the batch), ``'token_mean'``
                (divided by the number of real tokens).
        """
        if reduction not in ("none", "sum", "mean", "token_mean"):
            raise ValueError(f"invalid reduction: {reduction!r}")
        mask = mask.to(torch.bool) if mask is not None else torch.ones_like(tags, dtype=torch.bool)
        if not bool(mask[:, 0].all()):
            raise ValueError("mask of the first timestep must all be on")
        nll = self._partition(emissions, mask) - self._score(emissions, tags, mask)
        if reduction == "none":
            return nll
        if reduction == "sum":
            return nll.sum()
        if reduction == "mean":
            return nll.mean()
        return nll.sum() / mask.float().sum()

    def _score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, seq = tags.shape
        m = mask.to(emissions.dtype)
        ar = torch.arange(batch, device=tags.device)
        score = self.start_transitions[tags[:, 0]] + emissions[ar, 0, tags[:, 0]]
        for t in range(1, seq):
            score = score + (self.transitions[tags[:, t - 1], tags[:, t]] + emissions[ar, t, tags[:, t]]) * m[:, t]
        last = tags[ar, mask.long().sum(1) - 1]
        return score + self.end_transitions[last]

    def _partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        score = self.start_transitions + emissions[:, 0]
        for t in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(score.unsqueeze(2) + self.transitions + emissions[:, t].unsqueeze(1), dim=1)
            score = torch.where(mask[:, t].unsqueeze(1), nxt, score)
        return torch.logsumexp(score + self.end_transitions, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor | None = None, nbest: int | None = None,
               pad_tag: int | None = None) -> torch.Tensor:
        """Viterbi decoding. Returns ``[btz, seq]`` (``nbest`` None or 1) or ``[nbest, btz, seq]``; padding gets ``pad_tag`` (0)."""
        batch, seq, k = emissions.shape
        n = 1 if nbest is None else int(nbest)
        if mask is None:
            mask = torch.ones(batch, seq, dtype=torch.bool, device=emissions.device)
        mask = mask.to(torch.bool)
        neg = torch.finfo(emissions.dtype).min / 4
        # score[b, tag, j]: the j-th best path ending in tag
        score = torch.full((batch, k, n), neg, dtype=emissions.dtype, device=emissions.device)
        score[:, :, 0] = self.start_transitions + emissions[:, 0]
        identity = torch.arange(k * n, device=emissions.device).view(1, k, n).expand(batch, k, n)
        history = []
        for t in range(1, seq):
            cand = score.unsqueeze(3) + self.transitions.view(1, k, 1, k) + emissions[:, t].view(batch, 1, 1, k)
            cand = cand.reshape(batch, k * n, k)  # (prev tag, rank) x current tag
            best, idx = cand.topk(n, dim=1)  # [b, n, k]
            best, idx = best.transpose(1, 2), idx.transpose(1, 2)  # [b, k, n]
            step = mask[:, t].view(batch, 1, 1)
            score = torch.where(step, best, score)
            history.append(torch.where(step, idx, identity))
        final = (score + self.end_transitions.view(1, k, 1)).reshape(batch, k * n)
        _, cur = final.topk(n, dim=1)  # [b, n] flattened (tag, rank)
        paths = torch.empty(batch, n, seq, dtype=torch.long, device=emissions.device)
        for t in range(seq - 1, 0, -1):
            paths[:, :, t] = cur // n
            cur = history[t - 1].reshape(batch, k * n).gather(1, cur)
        paths[:, :, 0] = cur // n
        paths = paths.masked_fill(~mask.unsqueeze(1), 0 if pad_tag is None else pad_tag)
        return paths[:, 0] if nbest is None or n == 1 else paths.transpose(0, 1)
