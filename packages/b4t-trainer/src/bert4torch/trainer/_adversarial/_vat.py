"""VAT: a KL penalty between clean and embedding-perturbed outputs (Miyato et al.)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .._utils import check_choice


class VAT:
    """Virtual adversarial training (Miyato et al.): a KL penalty between clean and embedding-perturbed outputs.

    The perturbation is added to the output of the embedding module named ``emb_name`` through a forward hook,
    so the model's code is untouched.

    Args:
        model: the model; ``model(*inputs)`` must give the logits (or a tuple holding them at ``rank``).
        emb_name: name of the embedding module (the module, e.g. ``word_embeddings``).
        noise_var: scale of the initial random noise.
        noise_gamma: epsilon of the projection's normalisation.
        adv_step_size: step along the KL gradient.
        adv_alpha: weight of the penalty.
        norm_type: ``'l2'``, ``'l1'`` or ``'inf'`` for the projection.
        rank: index of the logits in a tuple output.
    """

    def __init__(
        self,
        model: nn.Module,
        emb_name: str = "word_embeddings",
        noise_var: float = 1e-5,
        noise_gamma: float = 1e-6,
        adv_step_size: float = 1e-3,
        adv_alpha: float = 1,
        norm_type: str = "l2",
        rank: int = 0,
    ) -> None:
        check_choice("norm_type", norm_type, ("l2", "l1", "inf"))
        self.model = model
        self.noise_var = noise_var
        self.noise_gamma = noise_gamma
        self.adv_step_size = adv_step_size
        self.adv_alpha = adv_alpha
        self.norm_type = norm_type
        self.rank = rank
        modules = [m for n, m in model.named_modules() if n.split(".")[-1] == emb_name or n.endswith(emb_name)]
        if not modules:
            raise ValueError(f"VAT: no module of the model is named {emb_name!r}")
        self.embedding = modules[0]
        self._noise: torch.Tensor | None = None
        self.embed: torch.Tensor | None = None
        self.hook_handle = self.embedding.register_forward_hook(self._hook)

    def remove(self) -> None:
        """Detach the forward hook from the embedding module."""
        self.hook_handle.remove()

    def _hook(self, module: nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        self.embed = output
        if self._noise is not None:
            return output.detach() + self._noise
        return None

    def _logits(self, inputs: Any) -> torch.Tensor:
        out = self.model(*inputs) if isinstance(inputs, (list, tuple)) else self.model(inputs)
        return out[self.rank] if isinstance(out, (list, tuple)) else out

    def virtual_adversarial_training(self, train_X: Any, logits: torch.Tensor) -> torch.Tensor | None:
        """The VAT loss for this batch (None when the KL gradient vanished or blew up)."""
        if self.embed is None:
            self._logits(train_X)
        assert self.embed is not None
        noise = torch.randn_like(self.embed.detach()) * self.noise_var
        noise.requires_grad_()
        try:
            self._noise = noise
            adv_logits = self._logits(train_X)
            adv_loss = self.kl(adv_logits, logits.detach(), reduction="batchmean")
            (delta_grad,) = torch.autograd.grad(adv_loss, noise, only_inputs=True)
            norm = delta_grad.norm()
            if torch.isnan(norm) or torch.isinf(norm):
                return None
            noise = self.adv_project(noise + delta_grad * self.adv_step_size, self.norm_type, self.noise_gamma)
            self._noise = noise.detach()
            adv_logits = self._logits(train_X)
        finally:
            self._noise = None
        adv_loss_f = self.kl(adv_logits, logits.detach())
        adv_loss_b = self.kl(logits, adv_logits.detach())
        return (adv_loss_f + adv_loss_b) * self.adv_alpha

    @staticmethod
    def kl(inputs: torch.Tensor, targets: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        """``KL(softmax(targets) || softmax(inputs))``."""
        return F.kl_div(F.log_softmax(inputs, dim=-1), F.softmax(targets, dim=-1), reduction=reduction)

    @staticmethod
    def adv_project(grad: torch.Tensor, norm_type: str = "inf", eps: float = 1e-6) -> torch.Tensor:
        """Normalise a perturbation per position."""
        if norm_type == "l2":
            return grad / (torch.norm(grad, dim=-1, keepdim=True) + eps)
        if norm_type == "l1":
            return grad.sign()
        return grad / (grad.abs().max(-1, keepdim=True)[0] + eps)


def vat_step(trainer: Any, options: dict[str, Any], state: VAT, logs: dict[str, Any] | None) -> None:
    """The VAT pass of AdversarialTraining: back-propagate the penalty alone (the supervised loss is done)."""
    output = trainer.output
    logit = output[options["rank"]] if isinstance(output, (list, tuple)) else output
    adv_loss = state.virtual_adversarial_training(trainer.train_X, logit)
    if adv_loss is not None:
        trainer.backward(adv_loss)
        if logs is not None:
            logs["loss_unsup"] = adv_loss.item()
