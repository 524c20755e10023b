"""bert4torch.layers."""

__all__: list[str] = []
