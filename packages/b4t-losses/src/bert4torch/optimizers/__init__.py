"""bert4torch.optimizers."""

__all__: list[str] = []
