"""AdversarialTraining: the callback that runs one adversarial strategy after each backward pass."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .._callback import Callback
from .._utils import check_choice, closest_hint
from ._fgm import FGM, fgm_step
from ._gradient_penalty import gradient_penalty_step
from ._perturb import embedding_params
from ._pgd import PGD, pgd_step
from ._vat import VAT, vat_step

_EMB = {"epsilon": 1.0, "emb_name": "word_embeddings"}


@dataclass(frozen=True)
class Strategy:
    """One adversarial method: its options with defaults, what it builds at train begin, and its extra pass.

    ``make(trainer, options)`` returns the per-run state given to ``step(trainer, options, state, logs)``;
    ``keeps_graph`` strategies back-propagate again through the clean pass's graph.
    """

    defaults: dict[str, Any]
    make: Callable[[Any, dict[str, Any]], Any]
    step: Callable[[Any, dict[str, Any], Any, dict[str, Any] | None], None]
    keeps_graph: bool = False


def _make_vat(trainer: Any, o: dict[str, Any]) -> VAT:
    keys = ("emb_name", "noise_var", "noise_gamma", "adv_step_size", "adv_alpha", "norm_type", "rank")
    return VAT(trainer, **{k: o[k] for k in keys})


def _check_embedding(trainer: Any, o: dict[str, Any]) -> None:
    embedding_params(trainer, o["emb_name"])  # fail at train begin on a wrong name


STRATEGIES: dict[str, Strategy] = {
    "fgm": Strategy(dict(_EMB), lambda t, o: FGM(t), lambda t, o, s, logs: fgm_step(t, o, s)),
    "pgd": Strategy({**_EMB, "K": 3, "alpha": 0.3}, lambda t, o: PGD(t), lambda t, o, s, logs: pgd_step(t, o, s)),
    "vat": Strategy(
        {"emb_name": "word_embeddings", "K": 3, "noise_var": 1e-5, "noise_gamma": 1e-6, "adv_step_size": 1e-3,
         "adv_alpha": 1, "norm_type": "l2", "rank": 0},
        _make_vat, vat_step, keeps_graph=True,
    ),
    "gradient_penalty": Strategy(dict(_EMB), _check_embedding, gradient_penalty_step, keeps_graph=True),
}


class AdversarialTraining(Callback):
    """Adversarial training as a callback: after each backward pass, add the adversarial gradients.

    Modes: ``'fgm'``, ``'pgd'``, ``'vat'``, ``'gradient_penalty'`` (``''`` does nothing); each is a
    :class:`Strategy` in ``STRATEGIES``. ``adversarial`` overrides the defaults: ``epsilon=1.0,
    emb_name='word_embeddings'``; pgd ``K=3, alpha=0.3``; vat ``noise_var=1e-5, noise_gamma=1e-6,
    adv_step_size=1e-3, adv_alpha=1, norm_type='l2', rank=0``. An unknown key is an error.

    For vat and gradient_penalty only the extra term is back-propagated (the supervised loss already was), and the
    gradient penalty is ``epsilon / 2 * ||d loss / d embedding||^2`` with its true gradient (double backward).

    Args:
        mode: the method.
        adversarial: options for it.
    """

    def __init__(self, mode: str, adversarial: dict[str, Any] | None = None) -> None:
        check_choice("mode", mode, ("", *STRATEGIES))
        self.strategy = STRATEGIES.get(mode)
        options = dict(self.strategy.defaults) if self.strategy else {}
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
        self._retain_graph_before = trainer.retain_graph
        if self.strategy is None:
            return
        if self.strategy.keeps_graph:
            trainer.retain_graph = True
        self.ad_train = self.strategy.make(trainer, self.adversarial)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if isinstance(self.ad_train, VAT):
            self.ad_train.remove()
        self.trainer.retain_graph = self._retain_graph_before

    def on_train_step_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.strategy is None or not self.trainer.last_loss_finite:
            return
        self.strategy.step(self.trainer, self.adversarial, self.ad_train, logs)
