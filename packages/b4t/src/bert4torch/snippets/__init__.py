"""bert4torch.snippets."""

__all__: list[str] = []
