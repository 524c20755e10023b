"""Semi-supervised losses: UDA (Xie et al. 2019) and temporal ensembling (Laine & Aila 2017)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import check_choice

TSA_SCHEDULES = ("linear_schedule", "exp_schedule", "log_schedule")


class UDALoss(nn.Module):
    """Unsupervised data augmentation: supervised cross entropy plus KL(original || augmented) on unlabelled rows.

    ``y_pred`` stacks three blocks along the batch: ``sup_size`` labelled rows, then ``u`` unlabelled originals,
    then their ``u`` augmentations. The unsupervised term is ``KL(softmax(orig).detach() || softmax(aug))``
    (batch mean). With a training-signal-annealing schedule, labelled rows whose true-class probability is already
    at or above the threshold ``eta(t) * (end_p - start_p) + start_p`` are dropped from the supervised term, where
    ``t = global_step / total_steps`` and ``eta`` is ``t`` (linear), ``exp(5 (t - 1))`` (exp) or
    ``1 - exp(-5 t)`` (log).

    Args:
        tsa_schedule: None, ``'linear_schedule'``, ``'exp_schedule'`` or ``'log_schedule'``.
        total_steps: default for ``forward``'s ``total_steps``.
        start_p: threshold at step 0.
        end_p: threshold at the last step.
        return_all_loss: return ``(total, sup, unsup)`` instead of the total only.
    """

    def __init__(
        self,
        tsa_schedule: str | None = None,
        total_steps: int | None = None,
        start_p: float = 0,
        end_p: float = 1,
        return_all_loss: bool = True,
    ) -> None:
        super().__init__()
        if tsa_schedule is not None:
            check_choice("tsa_schedule", tsa_schedule, TSA_SCHEDULES)
        self.loss_sup = nn.CrossEntropyLoss()
        self.loss_unsup = nn.KLDivLoss(reduction="batchmean")
        self.tsa_schedule = tsa_schedule
        self.total_steps = total_steps
        self.start = start_p
        self.end = end_p
        self.return_all_loss = return_all_loss

    def forward(
        self, y_pred: torch.Tensor, y_true_sup: torch.Tensor, global_step: int, total_steps: int | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args: ``y_pred`` ``(sup + 2u, C)``; ``y_true_sup`` ``(sup,)``; the step and the step total for TSA."""
        sup_size = y_true_sup.size(0)
        unsup_size = (y_pred.size(0) - sup_size) // 2
        y_pred_sup = y_pred[:sup_size]
        if self.tsa_schedule is None:
            loss_sup = self.loss_sup(y_pred_sup, y_true_sup)
        else:
            total = total_steps if total_steps is not None else self.total_steps
            if total is None:
                raise ValueError("UDALoss with a tsa_schedule needs total_steps (in __init__ or forward)")
            threshold = self.get_tsa_threshold(self.tsa_schedule, global_step, total, self.start, self.end)
            true_prob = torch.gather(F.softmax(y_pred_sup, dim=-1), dim=1, index=y_true_sup[:, None]).squeeze(1)
            sel_rows = true_prob < threshold
            # The original returned the int 0 when no row was kept; a zero tensor keeps the graph and dtype.
            if bool(sel_rows.any()):
                loss_sup = self.loss_sup(y_pred_sup[sel_rows], y_true_sup[sel_rows])
            else:
                loss_sup = y_pred_sup.sum() * 0
        y_true_unsup = F.softmax(y_pred[sup_size : sup_size + unsup_size].detach(), dim=-1)
        y_pred_unsup = F.log_softmax(y_pred[sup_size + unsup_size :], dim=-1)
        loss_unsup = self.loss_unsup(y_pred_unsup, y_true_unsup)
        if self.return_all_loss:
            return loss_sup + loss_unsup, loss_sup, loss_unsup
        return loss_sup + loss_unsup

    @staticmethod
    def get_tsa_threshold(schedule: str, global_step: int, num_train_steps: int, start: float, end: float) -> float:
        """The TSA threshold at ``global_step`` (see the class docstring)."""
        check_choice("schedule", schedule, TSA_SCHEDULES)
        progress = global_step / num_train_steps
        if schedule == "linear_schedule":
            threshold = progress
        elif schedule == "exp_schedule":
            threshold = math.exp((progress - 1) * 5)
        else:
            threshold = 1 - math.exp(-progress * 5)
        return threshold * (end - start) + start


class TemporalEnsemblingLoss(nn.Module):
    """Temporal ensembling: cross entropy plus a ramped-up MSE to each batch's ensembled past predictions.

    Batches are identified by their index ``bti`` within the epoch, so the data order must repeat every epoch
    (checked on the labels of the first 10 batches). For each batch the raw accumulator is
    ``Z <- alpha * Z + (1 - alpha) * z`` and the target is ``Z / (1 - alpha ** (epoch + 1))`` (the paper's
    start-up bias correction; the original stored the corrected value back into ``Z``, compounding it).
    The unsupervised weight is ``w(epoch) = max_val * sup_ratio * exp(ramp_up_mult * (1 - epoch / epochs) ** 2)``,
    0 at epoch 0 and ``max_val * sup_ratio`` from ``epochs`` on. The MSE is between softmaxes, summed and divided
    by the number of elements, for the unlabelled and the labelled predictions.
    Returns ``(total, sup, w * unsup)``; batches with ``bti >= max_batch_num`` get the cross entropy only.

    Args:
        epochs: epochs of ramp-up.
        max_val: final unsupervised weight before scaling by the labelled fraction.
        ramp_up_mult: ramp-up exponent factor (negative).
        alpha: ensembling momentum in ``[0, 1)``.
        max_batch_num: batches with a history (None: all; memory grows with the data).
        hist_device: where the history lives.
    """

    def __init__(
        self,
        epochs: int,
        max_val: float = 10.0,
        ramp_up_mult: float = -5.0,
        alpha: float = 0.5,
        max_batch_num: int | None = 100,
        hist_device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        if not 0 <= alpha < 1:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        self.loss_sup = nn.CrossEntropyLoss()
        self.max_epochs = epochs
        self.max_val = max_val
        self.ramp_up_mult = ramp_up_mult
        self.alpha = alpha
        self.max_batch_num = max_batch_num
        self.hist_device = hist_device
        self.hist_unsup: list[torch.Tensor] = []
        self.hist_sup: list[torch.Tensor] = []
        self.hist_input_y: list[torch.Tensor] = []

    def forward(
        self, y_pred_sup: torch.Tensor, y_pred_unsup: torch.Tensor, y_true_sup: torch.Tensor, epoch: int, bti: int
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Args: labelled logits, unlabelled logits, labels, the 0-based epoch and the batch index in the epoch."""
        self._same_batch_check(y_true_sup, bti)
        if self.max_batch_num is not None and bti >= self.max_batch_num:
            return self.loss_sup(y_pred_sup, y_true_sup)
        if bti >= len(self.hist_sup):
            self.hist_sup.append(torch.zeros_like(y_pred_sup).to(self.hist_device))
            self.hist_unsup.append(torch.zeros_like(y_pred_unsup).to(self.hist_device))
        sup_ratio = len(y_pred_sup) / (len(y_pred_sup) + len(y_pred_unsup))
        w = self.weights_schedule(epoch, sup_ratio)
        sup_loss = self.loss_sup(y_pred_sup, y_true_sup)
        correction = 1.0 - self.alpha**epoch if epoch > 0 else 1.0
        # Targets come from the epochs before this one; at epoch 0 there are none and w is 0 anyway.
        target_unsup = self.hist_unsup[bti].to(y_pred_unsup) / correction
        target_sup = self.hist_sup[bti].to(y_pred_sup) / correction
        unsup_loss = self._mse(y_pred_unsup, target_unsup) + self._mse(y_pred_sup, target_sup)
        self.hist_unsup[bti] = self._update(self.hist_unsup[bti], y_pred_unsup.detach())
        self.hist_sup[bti] = self._update(self.hist_sup[bti], y_pred_sup.detach())
        return sup_loss + w * unsup_loss, sup_loss, w * unsup_loss

    def _same_batch_check(self, y_true_sup: torch.Tensor, bti: int) -> None:
        if bti >= 10:
            return
        if bti >= len(self.hist_input_y):
            self.hist_input_y.append(y_true_sup.to(self.hist_device))
        elif not self.hist_input_y[bti].equal(y_true_sup.to(self.hist_device)):
            raise ValueError("TemporalEnsemblingLoss needs the same batches in the same order every epoch")

    def _update(self, hist: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return (self.alpha * hist.to(y_pred) + (1.0 - self.alpha) * y_pred).to(self.hist_device)

    def weights_schedule(self, epoch: int, sup_ratio: float) -> float:
        """The unsupervised weight at ``epoch`` (see the class docstring)."""
        max_val = self.max_val * sup_ratio
        if epoch == 0:
            return 0.0
        if epoch >= self.max_epochs:
            return max_val
        return max_val * math.exp(self.ramp_up_mult * (1.0 - epoch / self.max_epochs) ** 2)

    @staticmethod
    def _mse(logits: torch.Tensor, target_logits_ensembled: torch.Tensor) -> torch.Tensor:
        # The ensembled history holds logits; compare probabilities as the original does.
        quad_diff = torch.sum((F.softmax(logits, dim=1) - F.softmax(target_logits_ensembled, dim=1)) ** 2)
        return quad_diff / logits.nelement()
