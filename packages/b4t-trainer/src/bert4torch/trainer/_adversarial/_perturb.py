"""What FGM and PGD share: finding the embedding parameters, a normalised step along the gradient, the restore."""

from __future__ import annotations

import torch
from torch import nn

from .._utils import warn_ignored


def embedding_params(model: nn.Module, emb_name: str) -> list[tuple[str, nn.Parameter]]:
    """The trainable parameters whose names contain ``emb_name`` (an error naming the option when none does)."""
    found = [(n, p) for n, p in model.named_parameters() if p.requires_grad and emb_name in n]
    if not found:
        raise ValueError(f"no trainable parameter of the model has {emb_name!r} in its name (set emb_name)")
    return found


class EmbeddingPerturbation:
    """Moves embedding parameters along their normalised gradients and puts them back.

    Args:
        model: the model holding the embedding.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.backup: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def _perturb(self, emb_name: str, size: float, save: bool) -> list[tuple[str, nn.Parameter]]:
        moved = []
        for name, param in embedding_params(self.model, emb_name):
            if save:
                self.backup[name] = param.detach().clone()
            if param.grad is None:
                continue
            norm = torch.norm(param.grad)
            if norm != 0 and not torch.isnan(norm):
                param.add_(size * param.grad / norm)
                moved.append((name, param))
        return moved

    @torch.no_grad()
    def restore(self, emb_name: str = "emb") -> None:
        """Put back the embedding saved before the attack (``emb_name`` is the original's, and ignored)."""
        if emb_name != "emb":
            warn_ignored(f"{type(self).__name__}.restore", "emb_name", "the parameters the attack moved are restored")
        params = dict(self.model.named_parameters())
        for name, saved in self.backup.items():
            params[name].copy_(saved)
        self.backup = {}
