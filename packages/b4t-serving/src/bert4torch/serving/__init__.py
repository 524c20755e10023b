"""bert4torch.serving: expose a Python function over HTTP with the standard library only."""

from ._web import WebServing

__all__ = ["WebServing"]
