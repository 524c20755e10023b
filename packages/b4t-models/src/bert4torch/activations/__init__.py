"""bert4torch.activations."""

__all__: list[str] = []
