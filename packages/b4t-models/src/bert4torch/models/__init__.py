"""bert4torch.models."""

__all__: list[str] = []
