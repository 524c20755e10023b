"""bert4torch.losses."""

__all__: list[str] = []
