"""Adversarial training on the embeddings: FGM, PGD, VAT and the gradient penalty, each a strategy object behind
the :class:`AdversarialTraining` callback."""

from ._callback import STRATEGIES, AdversarialTraining
from ._fgm import FGM
from ._pgd import PGD
from ._vat import VAT

__all__ = ["FGM", "PGD", "STRATEGIES", "VAT", "AdversarialTraining"]
