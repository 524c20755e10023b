"""bert4torch.generation: autoregressive decoding on torch, with a key/value cache where the model has one."""

__version__ = "0.1.0"

from ._autoregressive import AutoRegressiveDecoder
from ._generate import filter_logits, generate

__all__ = ["AutoRegressiveDecoder", "filter_logits", "generate"]
