"""ELECTRA: a BERT encoder with a factorised embedding (``embeddings_project``) and the discriminator head.

Checkpoint layout: HF ``ElectraForPreTraining`` (``electra.*``, ``discriminator_predictions.*``). ELECTRA has no
pooler/MLM/NSP heads; ``with_discriminator`` adds the replaced-token logits (True), or
their activation by name (``'sigmoid'``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from bert4torch.activations import get_activation

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["ELECTRA", "ELECTRA_WEIGHT_MAP", "ElectraConfig"]


@dataclass(frozen=True, kw_only=True)
class ElectraConfig(EncoderConfig):
    """ELECTRA options."""

    with_discriminator: bool | str = False  # replaced-token-detection logits [btz, seq] (or their activation)
    ignored: ClassVar[frozenset[str]] = frozenset({"generator_size"})
    absent_heads: ClassVar[tuple[tuple[str, ...], str]] = (("with_pool", "with_mlm", "with_nsp"),
                                                            "use with_discriminator")


ELECTRA_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k: v for k, v in bert_weight_map("electra").items() if not k.startswith(("cls.", "electra.pooler"))},
    "electra.embeddings_project.weight": "embeddings.embedding_hidden_mapping_in.weight",
    "electra.embeddings_project.bias": "embeddings.embedding_hidden_mapping_in.bias",
    "discriminator_predictions.dense.weight": "dense.weight",
    "discriminator_predictions.dense.bias": "dense.bias",
    "discriminator_predictions.dense_prediction.weight": "dense_prediction.weight",
    "discriminator_predictions.dense_prediction.bias": "dense_prediction.bias",
    # generator heads of ElectraForMaskedLM files: known, not built here
    "generator_predictions.LayerNorm.weight": None,
    "generator_predictions.LayerNorm.bias": None,
    "generator_predictions.dense.weight": None,
    "generator_predictions.dense.bias": None,
    "generator_lm_head.weight": None,
    "generator_lm_head.bias": None,
}


class ELECTRA(BERT, config=ElectraConfig, prefix="electra", weight_map=ELECTRA_WEIGHT_MAP, hf_model_type="electra",
              hf_architecture="ElectraForPreTraining"):
    """ELECTRA discriminator (``model='electra'``); outputs ``hidden`` or ``[hidden, logits]``."""

    def build_heads(self) -> None:
        if self.with_discriminator:
            self.dense = nn.Linear(self.hidden_size, self.hidden_size)
            self.dense_act = get_activation(self.hidden_act)
            self.dense_prediction = nn.Linear(self.hidden_size, 1)
            self.discriminator_act = None if self.with_discriminator is True else get_activation(self.with_discriminator)

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        hidden = super().apply_final_layers(inputs)
        if not self.with_discriminator:
            return hidden
        last = hidden[-1] if self.output_all_encoded_layers else hidden
        logits = self.dense_prediction(self.dense_act(self.dense(last))).squeeze(-1)
        if self.discriminator_act is not None:
            logits = self.discriminator_act(logits)
        return [hidden, logits]

    def to_hf_config(self) -> dict[str, Any]:
        return {**super().to_hf_config(), "embedding_size": self.embedding_size}
