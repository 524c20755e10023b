"""Losses over pairs of predictions: contrastive (Hadsell et al.) and R-Drop."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_choice


class ContrastiveLoss(nn.Module):
    """Contrastive loss on pair distances: positives are pulled to 0, negatives pushed beyond ``margin``.

    Offline: ``0.5 * (y * d**2 + (1 - y) * relu(margin - d)**2)``, averaged (or summed).
    Online (``online=True``): only hard pairs count, i.e. negatives closer than the farthest positive and
    positives farther than the closest negative; their terms ``d**2`` and ``relu(margin - d)**2`` are summed.

    Args:
        margin: distance beyond which a negative pair costs nothing.
        size_average: offline form only: mean (True) or sum (False) over pairs.
        online: use hard-pair mining.
    """

    def __init__(self, margin: float = 0.5, size_average: bool = True, online: bool = False) -> None:
        super().__init__()
        self.margin = margin
        self.size_average = size_average
        self.online = online

    def forward(self, distances: torch.Tensor, labels: torch.Tensor, pos_id: int = 1, neg_id: int = 0) -> torch.Tensor:
        """Args: ``distances`` ``(N,)``; ``labels`` ``(N,)`` with ``pos_id``/``neg_id`` values."""
        if not self.online:
            pos = (labels == pos_id).to(distances.dtype)
            losses = 0.5 * (pos * distances.pow(2) + (1 - pos) * F.relu(self.margin - distances).pow(2))
            return losses.mean() if self.size_average else losses.sum()
        negs = distances[labels == neg_id]
        poss = distances[labels == pos_id]
        # Hard mining: with a single example on one side its own mean stands in for the max/min (original rule).
        negative_pairs = negs[negs < (poss.max() if len(poss) > 1 else negs.mean())]
        positive_pairs = poss[poss > (negs.min() if len(negs) > 1 else poss.mean())]
        positive_loss = positive_pairs.pow(2).sum()
        negative_loss = F.relu(self.margin - negative_pairs).pow(2).sum()
        return positive_loss + negative_loss


class RDropLoss(nn.Module):
    """R-Drop (Liang et al. 2021): cross entropy plus a symmetric KL between two dropout passes.

    Two call forms:
        ``loss(y_pred, y_true)``: ``y_pred`` holds both passes stacked in one batch, paired as adjacent rows
        (``rank='adjacent'``: rows 0/1, 2/3, ...) or as halves (``rank='updown'``); ``y_true`` has the same
        batch size and the cross entropy covers every row.
        ``loss(y_pred1, y_pred2, y_true)``: the two passes separately; the cross entropy is their mean.

    The total is ``ce + alpha / 4 * mean(KL(p2 || p1) + KL(p1 || p2))`` with the mean over all elements.

    Args:
        alpha: weight of the KL term.
        rank: how the two passes are laid out in the two-argument form.
    """

    def __init__(self, alpha: float = 4, rank: str = "adjacent") -> None:
        super().__init__()
        check_choice("rank", rank, ("adjacent", "updown"))
        self.alpha = alpha
        self.rank = rank
        self.loss_sup = nn.CrossEntropyLoss()
        self.loss_rdrop = nn.KLDivLoss(reduction="none")

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        """See the class docstring for the two call forms."""
        if len(args) == 2:
            y_pred, y_true = args
            loss_sup = self.loss_sup(y_pred, y_true)
            if self.rank == "adjacent":
                y_pred1, y_pred2 = y_pred[1::2], y_pred[::2]
            else:
                half_btz = y_true.shape[0] // 2
                y_pred1, y_pred2 = y_pred[:half_btz], y_pred[half_btz:]
        elif len(args) == 3:
            y_pred1, y_pred2, y_true = args
            loss_sup = (self.loss_sup(y_pred1, y_true) + self.loss_sup(y_pred2, y_true)) / 2
        else:
            raise TypeError(
                f"RDropLoss takes (y_pred, y_true) or (y_pred1, y_pred2, y_true), got {len(args)} arguments"
            )
        loss_rdrop1 = self.loss_rdrop(F.log_softmax(y_pred1, dim=-1), F.softmax(y_pred2, dim=-1))
        loss_rdrop2 = self.loss_rdrop(F.log_softmax(y_pred2, dim=-1), F.softmax(y_pred1, dim=-1))
        return loss_sup + torch.mean(loss_rdrop1 + loss_rdrop2) / 4 * self.alpha
