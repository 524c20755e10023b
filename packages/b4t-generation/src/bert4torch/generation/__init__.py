"""bert4torch.generation."""

__all__: list[str] = []
