"""PGD: ``K`` small steps on the embedding, projected into an ``epsilon`` ball."""

from __future__ import annotations

from typing import Any

import torch

from ._perturb import EmbeddingPerturbation


class PGD(EmbeddingPerturbation):
    """Projected gradient descent: ``K`` small steps of size ``alpha``, kept within an ``epsilon`` ball.

    Args:
        model: the model holding the embedding.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__(model)
        self.grad_backup: dict[str, torch.Tensor] = {}

    @property
    def emb_backup(self) -> dict[str, torch.Tensor]:
        """The embedding saved by the first attack (the original's name)."""
        return self.backup

    @torch.no_grad()
    def attack(
        self, epsilon: float = 1.0, alpha: float = 0.3, emb_name: str = "word_embeddings", is_first_attack: bool = False
    ) -> None:
        """One step of size ``alpha`` along the gradient, projected back into the ``epsilon`` ball."""
        for name, param in self._perturb(emb_name, alpha, save=is_first_attack):
            param.copy_(self.project(name, param.detach(), epsilon))

    def project(self, param_name: str, param_data: torch.Tensor, epsilon: float) -> torch.Tensor:
        """Clip the total perturbation to norm ``epsilon``."""
        r = param_data - self.backup[param_name]
        if torch.norm(r) > epsilon:
            r = epsilon * r / torch.norm(r)
        return self.backup[param_name] + r

    def backup_grad(self) -> None:
        """Save all gradients (the clean pass's), to be restored before the last attack's backward."""
        self.grad_backup = {
            n: p.grad.clone() for n, p in self.model.named_parameters() if p.requires_grad and p.grad is not None
        }

    def restore_grad(self) -> None:
        """Restore the gradients saved by :meth:`backup_grad`."""
        for name, param in self.model.named_parameters():
            if name in self.grad_backup:
                param.grad = self.grad_backup[name]


def pgd_step(trainer: Any, options: dict[str, Any], state: PGD) -> None:
    """The PGD passes of AdversarialTraining: ``K`` attacks, the last one's gradients added to the clean pass's."""
    state.backup_grad()
    k = options["K"]
    for t in range(k):
        state.attack(epsilon=options["epsilon"], alpha=options["alpha"], emb_name=options["emb_name"],
                     is_first_attack=(t == 0))
        if t != k - 1:
            trainer.optimizer.zero_grad()
        else:
            state.restore_grad()
        trainer.train_step(trainer.train_X, trainer.train_y)
    state.restore()
