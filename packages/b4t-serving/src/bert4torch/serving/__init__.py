"""bert4torch.serving."""

__all__: list[str] = []
