"""Classification losses: focal, label smoothing and Su Jianlin's multilabel cross entropy (dense and sparse)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_choice


class FocalLoss(nn.Module):
    """Focal loss (Lin et al. 2017): cross entropy with each term scaled by ``(1 - p_t) ** gamma``.

    ``gamma=0`` reduces to ``F.cross_entropy``.

    Args:
        gamma: focusing parameter; larger values down-weight well classified examples.
        weight: optional per-class weight of shape ``(num_classes,)``, as in ``F.nll_loss``.
        ignore_index: target value that contributes neither to the loss nor to the mean.
    """

    def __init__(self, gamma: float = 2, weight: torch.Tensor | None = None, ignore_index: int = -100) -> None:
        super().__init__()
        self.gamma = gamma
        self.weight = weight
        self.ignore_index = ignore_index

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: ``input`` logits ``(N, C)`` or ``(N, C, ...)``; ``target`` class ids ``(N,)`` or ``(N, ...)``."""
        logpt = F.log_softmax(input, dim=1)
        pt = torch.exp(logpt)
        logpt = (1 - pt) ** self.gamma * logpt
        return F.nll_loss(logpt, target, self.weight, ignore_index=self.ignore_index)


class LabelSmoothingCrossEntropy(nn.Module):
    """Cross entropy against targets smoothed towards the uniform distribution.

    ``loss = (1 - eps) * nll + eps * mean_c(-log p_c)``, i.e. ``F.cross_entropy(..., label_smoothing=eps)``.
    Unlike the original, positions whose target is ``ignore_index`` are left out of the smoothing term as well
    (the original added their smoothing term to the loss and to the mean).

    Args:
        eps: smoothing mass in ``[0, 1]``.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        ignore_index: target value to ignore.
    """

    def __init__(self, eps: float = 0.1, reduction: str = "mean", ignore_index: int = -100) -> None:
        super().__init__()
        check_choice("reduction", reduction, ("mean", "sum", "none"))
        self.eps = eps
        self.reduction = reduction
        self.ignore_index = ignore_index

    def forward(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Args: ``output`` logits ``(..., C)`` (class last); ``target`` ids ``(...)``."""
        c = output.size(-1)
        log_preds = F.log_softmax(output, dim=-1).reshape(-1, c)
        flat_target = target.reshape(-1)
        keep = flat_target != self.ignore_index
        smooth = -log_preds.sum(dim=-1) / c
        nll = -log_preds.gather(1, flat_target.clamp(min=0).unsqueeze(1)).squeeze(1)
        per_item = torch.where(keep, (1 - self.eps) * nll + self.eps * smooth, torch.zeros_like(nll))
        if self.reduction == "none":
            return per_item.reshape(target.shape)
        if self.reduction == "sum":
            return per_item.sum()
        return per_item.sum() / keep.sum()


class MultilabelCategoricalCrossentropy(nn.Module):
    """Multilabel cross entropy of Su Jianlin (used with GlobalPointer).

    For each row, ``log(1 + sum_{neg} exp(s_i)) + log(1 + sum_{pos} exp(-s_j))``, averaged over all leading
    dimensions. ``y_true`` is 0/1 with the same shape as ``y_pred``; scores need no sigmoid or softmax, and the
    decision threshold is 0.
    """

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        """Args: ``y_pred`` scores ``(..., num_classes)``; ``y_true`` 0/1 of the same shape."""
        y_true = y_true.to(y_pred.dtype)
        y_pred = (1 - 2 * y_true) * y_pred  # flip the sign of positives: both terms become "push below 0"
        big = torch.finfo(y_pred.dtype).max / 4  # masks a class out of a logsumexp without overflowing
        y_pred_pos = y_pred - (1 - y_true) * big
        y_pred_neg = y_pred - y_true * big
        zeros = torch.zeros_like(y_pred[..., :1])  # the "1 +" inside each log
        pos_loss = torch.logsumexp(torch.cat([y_pred_pos, zeros], dim=-1), dim=-1)
        neg_loss = torch.logsumexp(torch.cat([y_pred_neg, zeros], dim=-1), dim=-1)
        return (pos_loss + neg_loss).mean()


class SparseMultilabelCategoricalCrossentropy(nn.Module):
    """The sparse form of :class:`MultilabelCategoricalCrossentropy` (GPLinker): positives given as class ids.

    Returns the loss per row (no reduction), as the original does; the GPLinker examples reduce it themselves.

    Args:
        mask_zero: treat class id 0 in ``y_true`` as padding (and exclude class 0 from the negatives).
        epsilon: lower clamp of ``1 - exp(b - a)`` in the negative term, which keeps its log finite.
    """

    def __init__(self, mask_zero: bool = False, epsilon: float = 1e-7) -> None:
        super().__init__()
        self.mask_zero = mask_zero
        self.epsilon = epsilon

    def forward(self, y_pred: torch.Tensor, y_true: torch.Tensor) -> torch.Tensor:
        """Args: ``y_pred`` scores ``(..., num_classes)``; ``y_true`` positive ids ``(..., num_positive)`` (long)."""
        zeros = torch.zeros_like(y_pred[..., :1])
        y_pred = torch.cat([y_pred, zeros], dim=-1)
        if self.mask_zero:
            infs = zeros + float("inf")
            y_pred = torch.cat([infs, y_pred[..., 1:]], dim=-1)
        y_pos_2 = torch.gather(y_pred, dim=-1, index=y_true)
        y_pos_1 = torch.cat([y_pos_2, zeros], dim=-1)
        if self.mask_zero:
            y_pred = torch.cat([-infs, y_pred[..., 1:]], dim=-1)
            y_pos_2 = torch.gather(y_pred, dim=-1, index=y_true)
        pos_loss = torch.logsumexp(-y_pos_1, dim=-1)
        # The negatives are "all classes minus the positives": log(sum_all - sum_pos) = a + log(1 - exp(b - a)).
        all_loss = torch.logsumexp(y_pred, dim=-1)
        aux_loss = torch.logsumexp(y_pos_2, dim=-1) - all_loss
        aux_loss = torch.clamp(1 - torch.exp(aux_loss), self.epsilon, 1)
        neg_loss = all_loss + torch.log(aux_loss)
        return pos_loss + neg_loss
