"""FGM: one step of ``epsilon * grad / ||grad||`` on the embedding."""

from __future__ import annotations

import torch

from ._perturb import EmbeddingPerturbation


class FGM(EmbeddingPerturbation):
    """Fast gradient method: move the embedding by ``epsilon * grad / ||grad||``, then :meth:`restore` it.

    Args:
        model: the model holding the embedding.
    """

    @torch.no_grad()
    def attack(self, epsilon: float = 1.0, emb_name: str = "word_embeddings") -> None:
        """Perturb every parameter whose name contains ``emb_name`` along its gradient."""
        self._perturb(emb_name, epsilon, save=True)


def fgm_step(trainer: object, options: dict, state: FGM) -> None:
    """The FGM pass of AdversarialTraining: attack, a second forward/backward, restore."""
    state.attack(epsilon=options["epsilon"], emb_name=options["emb_name"])
    trainer.train_step(trainer.train_X, trainer.train_y)  # type: ignore[attr-defined]
    state.restore()
