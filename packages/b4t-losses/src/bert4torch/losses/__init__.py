"""bert4torch.losses: the original's loss classes, each checked against its formula.

>>> import torch
>>> from bert4torch.losses import FocalLoss
>>> FocalLoss(gamma=0)(torch.zeros(2, 3), torch.tensor([0, 1])).item() == torch.log(torch.tensor(3.0)).item()
True
"""

__version__ = "0.1.0"

from ._classification import (
    FocalLoss,
    LabelSmoothingCrossEntropy,
    MultilabelCategoricalCrossentropy,
    SparseMultilabelCategoricalCrossentropy,
)
from ._pairwise import ContrastiveLoss, RDropLoss
from ._semi_supervised import TemporalEnsemblingLoss, UDALoss

__all__ = [
    "ContrastiveLoss",
    "FocalLoss",
    "LabelSmoothingCrossEntropy",
    "MultilabelCategoricalCrossentropy",
    "RDropLoss",
    "SparseMultilabelCategoricalCrossentropy",
    "TemporalEnsemblingLoss",
    "UDALoss",
]
