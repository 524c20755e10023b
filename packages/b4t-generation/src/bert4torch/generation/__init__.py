"""bert4torch.generation: autoregressive decoding (beam search, sampling) on torch."""

from ._autoregressive import AutoRegressiveDecoder

__all__ = ["AutoRegressiveDecoder"]
