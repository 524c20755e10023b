"""bert4torch.serving: expose a Python function over HTTP with the standard library only."""

__version__ = "0.1.0"

from ._web import WebServing

__all__ = ["WebServing"]
