"""bert4torch.generation: autoregressive decoding on torch, with a key/value cache where the model has one."""

__version__ = "0.1.0"

from ._autoregressive import AutoRegressiveDecoder
from ._generate import generate, stream_generate
from ._processors import filter_logits
from ._text import generate_text, stream_text

__all__ = ["AutoRegressiveDecoder", "filter_logits", "generate", "generate_text", "stream_generate", "stream_text"]
