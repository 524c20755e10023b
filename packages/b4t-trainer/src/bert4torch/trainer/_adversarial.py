"""Adversarial training on the embeddings: FGM, PGD, VAT, gradient penalty, and the callback that runs them."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._callback import Callback
from ._utils import check_choice, closest_hint


def _embedding_params(model: nn.Module, emb_name: str) -> list[tuple[str, nn.Parameter]]:
    found = [(n, p) for n, p in model.named_parameters() if p.requires_grad and emb_name in n]
    if not found:
        raise ValueError(f"no trainable parameter of the model has {emb_name!r} in its name (set emb_name)")
    return found


class FGM:
    """Fast gradient method: move the embedding by ``epsilon * grad / ||grad||``, then restore it.

    Args:
        model: the model holding the embedding.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.backup: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def attack(self, epsilon: float = 1.0, emb_name: str = "word_embeddings") -> None:
        """Perturb every parameter whose name contains ``emb_name`` along its gradient."""
        for name, param in _embedding_params(self.model, emb_name):
            self.backup[name] = param.detach().clone()
            if param.grad is None:
                continue
            norm = torch.norm(param.grad)
            if norm != 0 and not torch.isnan(norm):
                param.add_(epsilon * param.grad / norm)

    @torch.no_grad()
    def restore(self, emb_name: str = "emb") -> None:
        """Put back what :meth:`attack` changed (``emb_name`` is accepted for the original's signature)."""
        params = dict(self.model.named_parameters())
        for name, saved in self.backup.items():
            params[name].copy_(saved)
        self.backup = {}


class PGD:
    """Projected gradient descent: ``K`` small steps of size ``alpha``, kept within an ``epsilon`` ball.

    Args:
        model: the model holding the embedding.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.emb_backup: dict[str, torch.Tensor] = {}
        self.grad_backup: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def attack(
        self, epsilon: float = 1.0, alpha: float = 0.3, emb_name: str = "word_embeddings", is_first_attack: bool = False
    ) -> None:
        """One step of size ``alpha`` along the gradient, projected back into the ``epsilon`` ball."""
        for name, param in _embedding_params(self.model, emb_name):
            if is_first_attack:
                self.emb_backup[name] = param.detach().clone()
            if param.grad is None:
                continue
            norm = torch.norm(param.grad)
            if norm != 0 and not torch.isnan(norm):
                param.add_(alpha * param.grad / norm)
                param.copy_(self.project(name, param.detach(), epsilon))

    @torch.no_grad()
    def restore(self, emb_name: str = "emb") -> None:
        """Put back the embedding saved by the first attack."""
        params = dict(self.model.named_parameters())
        for name, saved in self.emb_backup.items():
            params[name].copy_(saved)
        self.emb_backup = {}

    def project(self, param_name: str, param_data: torch.Tensor, epsilon: float) -> torch.Tensor:
        """Clip the total perturbation to norm ``epsilon``."""
        r = param_data - self.emb_backup[param_name]
        if torch.norm(r) > epsilon:
            r = epsilon * r / torch.norm(r)
        return self.emb_backup[param_name] + r

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


_DEFAULTS: dict[str, dict[str, Any]] = {
    "": {},
    "fgm": {"epsilon": 1.0, "emb_name": "word_embeddings"},
    "pgd": {"epsilon": 1.0, "emb_name": "word_embeddings", "K": 3, "alpha": 0.3},
    "vat": {
        "emb_name": "word_embeddings",
        "K": 3,
        "noise_var": 1e-5,
        "noise_gamma": 1e-6,
        "adv_step_size": 1e-3,
        "adv_alpha": 1,
        "norm_type": "l2",
        "rank": 0,
    },
    "gradient_penalty": {"epsilon": 1.0, "emb_name": "word_embeddings"},
}


class AdversarialTraining(Callback):
    """Adversarial training as a callback: after each backward pass, add the adversarial gradients.

    Modes: ``'fgm'``, ``'pgd'``, ``'vat'``, ``'gradient_penalty'`` (``''`` does nothing). ``adversarial`` overrides
    the defaults: ``epsilon=1.0, emb_name='word_embeddings'``; pgd ``K=3, alpha=0.3``; vat ``noise_var=1e-5,
    noise_gamma=1e-6, adv_step_size=1e-3, adv_alpha=1, norm_type='l2', rank=0``. An unknown key is an error.

    Two defects of the original are fixed: for vat and gradient_penalty it called ``backward`` on the supervised
    loss a second time (doubling its gradient); here only the extra term is back-propagated. The gradient
    penalty is ``epsilon / 2 * ||d loss / d embedding||^2`` with its true gradient (double backward), where the
    original's penalty was a constant.

    Args:
        mode: the method.
        adversarial: options for it.
    """

    def __init__(self, mode: str, adversarial: dict[str, Any] | None = None) -> None:
        check_choice("mode", mode, tuple(_DEFAULTS))
        options = dict(_DEFAULTS[mode])
        for key, value in (adversarial or {}).items():
            if key not in options:
                raise ValueError(
                    f"AdversarialTraining({mode!r}) has no option {key!r}; valid: {sorted(options)}."
                    f"{closest_hint(key, options)}"
                )
            options[key] = value
        self.mode = mode
        self.adversarial = options
        self.ad_train: Any = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        trainer = self.trainer
        o = self.adversarial
        self._retain_graph_before = trainer.retain_graph
        if self.mode == "fgm":
            self.ad_train = FGM(trainer)
        elif self.mode == "pgd":
            self.ad_train = PGD(trainer)
        elif self.mode == "vat":
            trainer.retain_graph = True
            self.ad_train = VAT(
                trainer,
                emb_name=o["emb_name"],
                noise_var=o["noise_var"],
                noise_gamma=o["noise_gamma"],
                adv_step_size=o["adv_step_size"],
                adv_alpha=o["adv_alpha"],
                norm_type=o["norm_type"],
                rank=o["rank"],
            )
        elif self.mode == "gradient_penalty":
            trainer.retain_graph = True
            _embedding_params(trainer, o["emb_name"])  # fail early on a wrong name

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if isinstance(self.ad_train, VAT):
            self.ad_train.remove()
        self.trainer.retain_graph = self._retain_graph_before

    def on_train_step_end(self, logs: dict[str, Any] | None = None) -> None:
        trainer = self.trainer
        if not self.mode or not trainer.last_loss_finite:
            return
        o = self.adversarial
        train_X, train_y = trainer.train_X, trainer.train_y
        if self.mode == "fgm":
            self.ad_train.attack(epsilon=o["epsilon"], emb_name=o["emb_name"])
            trainer.train_step(train_X, train_y)
            self.ad_train.restore()
        elif self.mode == "pgd":
            self.ad_train.backup_grad()
            for t in range(o["K"]):
                self.ad_train.attack(
                    epsilon=o["epsilon"], alpha=o["alpha"], emb_name=o["emb_name"], is_first_attack=(t == 0)
                )
                if t != o["K"] - 1:
                    trainer.optimizer.zero_grad()
                else:
                    self.ad_train.restore_grad()
                trainer.train_step(train_X, train_y)
            self.ad_train.restore()
        elif self.mode == "vat":
            output = trainer.output
            logit = output[o["rank"]] if isinstance(output, (list, tuple)) else output
            adv_loss = self.ad_train.virtual_adversarial_training(train_X, logit)
            if adv_loss is not None:
                trainer.backward(adv_loss)
                if logs is not None:
                    logs["loss_unsup"] = adv_loss.item()
        elif self.mode == "gradient_penalty":
            (name, param), *_ = _embedding_params(trainer, o["emb_name"])
            (grad,) = torch.autograd.grad(trainer.loss, param, create_graph=True)
            gp = 0.5 * o["epsilon"] * (grad**2).sum()
            trainer.backward(gp)
            if logs is not None:
                logs["gradient_penalty"] = gp.item()
