"""ERNIE (Baidu, the HF ``ernie`` layout): BERT plus an optional task-type embedding.

Checkpoint layout: HF ``ErnieForPreTraining`` (``ernie.*``, ``cls.*``). With ``use_task_id`` the embeddings add
``task_type_embeddings``; the task ids are an extra input after the segment ids (zeros when not given, as HF does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["ERNIE", "ERNIE_WEIGHT_MAP", "ErnieConfig"]


@dataclass(frozen=True, kw_only=True)
class ErnieConfig(EncoderConfig):
    """ERNIE options."""

    use_task_id: bool = False  # add task_type_embeddings (ERNIE 3.0)
    task_type_vocab_size: int = 3  # rows of the task table


ERNIE_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **bert_weight_map("ernie"),
    "ernie.embeddings.task_type_embeddings.weight": "embeddings.task_type_embeddings.weight",
}


class ERNIE(BERT, config=ErnieConfig, prefix="ernie", weight_map=ERNIE_WEIGHT_MAP, hf_model_type="ernie",
            hf_architecture="ErnieForPreTraining"):
    """ERNIE (``model='ernie'``). Inputs: ``[token_ids, segment_ids(, task_ids)]``."""

    def embeddings_kwargs(self) -> dict[str, Any]:
        return {**super().embeddings_kwargs(), "task_type_vocab_size": self.task_type_vocab_size * self.use_task_id}

    def _split_inputs(self, inputs: Any) -> dict[str, Any]:
        inputs = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        at = 1 + (self.segment_vocab_size > 0)  # the task ids follow the segment ids
        task_ids = inputs.pop(at) if self.use_task_id and len(inputs) > at else None
        return {**super()._split_inputs(inputs), "task_ids": task_ids}

    def embed(self, parts: dict[str, Any], conditional_emb: torch.Tensor | None) -> torch.Tensor:
        return self.embeddings(parts["token_ids"], parts["segment_ids"], parts["position_ids"], conditional_emb,
                               parts["additional_embs"], task_ids=parts["task_ids"])

    def to_hf_config(self) -> dict[str, Any]:
        return {**super().to_hf_config(), "use_task_id": self.use_task_id,
                "task_type_vocab_size": self.task_type_vocab_size}
