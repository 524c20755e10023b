"""bert4torch.optimizers: warm-up schedules and an EMA of the weights that steps like a scheduler."""

from ._ema import ExponentialMovingAverage, extend_with_exponential_moving_average
from ._schedules import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

__all__ = [
    "ExponentialMovingAverage",
    "extend_with_exponential_moving_average",
    "get_cosine_schedule_with_warmup",
    "get_linear_schedule_with_warmup",
]
