"""bert4torch.trainer."""

__all__: list[str] = []
