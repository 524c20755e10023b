"""bert4torch.tokenizers."""

__all__: list[str] = []
