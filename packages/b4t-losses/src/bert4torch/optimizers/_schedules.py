"""Learning-rate schedules with linear warm-up, as ``LambdaLR`` instances (their state saves and resumes)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


class _LinearWarmupDecay:
    # A class rather than a closure so the schedule pickles (DataLoader workers, torch.save of the scheduler).
    def __init__(self, num_warmup_steps: int, num_training_steps: int) -> None:
        self.num_warmup_steps = num_warmup_steps
        self.num_training_steps = num_training_steps

    def __call__(self, step: int) -> float:
        if step < self.num_warmup_steps:
            return step / max(1, self.num_warmup_steps)
        return max(0.0, (self.num_training_steps - step) / max(1, self.num_training_steps - self.num_warmup_steps))


class _CosineWarmupDecay:
    def __init__(self, num_warmup_steps: int, num_training_steps: int, num_cycles: float, min_lr_ratio: float) -> None:
        self.num_warmup_steps = num_warmup_steps
        self.num_training_steps = num_training_steps
        self.num_cycles = num_cycles
        self.min_lr_ratio = min_lr_ratio

    def __call__(self, step: int) -> float:
        if step < self.num_warmup_steps:
            return step / max(1, self.num_warmup_steps)
        progress = (step - self.num_warmup_steps) / max(1, self.num_training_steps - self.num_warmup_steps)
        progress = min(progress, 1.0)
        cosine = 0.5 * (1.0 + math.cos(math.pi * self.num_cycles * 2.0 * progress))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine


def get_linear_schedule_with_warmup(
    optimizer: Optimizer, num_warmup_steps: int, num_training_steps: int, last_epoch: int = -1
) -> LambdaLR:
    """Linear warm-up from 0 to the base learning rate, then linear decay to 0.

    The factor is ``step / num_warmup_steps`` for ``step < num_warmup_steps``, then
    ``(num_training_steps - step) / (num_training_steps - num_warmup_steps)``, never below 0.

    Args:
        optimizer: the optimizer whose learning rates are scaled.
        num_warmup_steps: steps of warm-up.
        num_training_steps: total optimizer steps.
        last_epoch: index of the last step when resuming (``LambdaLR``'s meaning).

    Returns:
        A ``LambdaLR``; call ``.step()`` after each optimizer step (``compile(scheduler=...)`` does).
    """
    return LambdaLR(optimizer, _LinearWarmupDecay(num_warmup_steps, num_training_steps), last_epoch)


def get_cosine_schedule_with_warmup(
    optimizer: Optimizer,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float = 0.5,
    min_lr_ratio: float = 0.0,
    last_epoch: int = -1,
) -> LambdaLR:
    """Linear warm-up, then a cosine decay (half a period by default) from the base rate to ``min_lr_ratio``.

    The factor after warm-up is ``min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(2 pi num_cycles p))`` with
    ``p`` the progress through the decay phase, held at 1 after ``num_training_steps``.

    Args:
        optimizer: the optimizer whose learning rates are scaled.
        num_warmup_steps: steps of warm-up.
        num_training_steps: total optimizer steps.
        num_cycles: cosine periods over the decay phase (0.5 goes from 1 down to 0 once).
        min_lr_ratio: floor of the factor.
        last_epoch: index of the last step when resuming.

    Returns:
        A ``LambdaLR``.
    """
    return LambdaLR(
        optimizer, _CosineWarmupDecay(num_warmup_steps, num_training_steps, num_cycles, min_lr_ratio), last_epoch
    )
