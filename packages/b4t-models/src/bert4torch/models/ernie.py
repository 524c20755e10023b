"""ERNIE (Baidu, the HF ``ernie`` layout): BERT plus an optional task-type embedding.

Checkpoint layout: HF ``ErnieForPreTraining`` (``ernie.*``, ``cls.*``). With ``use_task_id`` the embeddings add
``task_type_embeddings``; the task ids are an extra input after the segment ids (zeros when not given, as HF does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from bert4torch.layers._transformer import uninitialized_embedding

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["ERNIE", "ERNIE_WEIGHT_MAP", "ErnieConfig"]


@dataclass(kw_only=True)
class ErnieConfig(EncoderConfig):
    """ERNIE options."""

    use_task_id: bool = False  # add task_type_embeddings (ERNIE 3.0)
    task_type_vocab_size: int = 3  # rows of the task table


ERNIE_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **bert_weight_map("ernie"),
    "ernie.embeddings.task_type_embeddings.weight": "embeddings.task_type_embeddings.weight",
}


class ERNIE(BERT):
    """ERNIE (``model='ernie'``). Inputs: ``[token_ids, segment_ids(, task_ids)]``."""

    config_class: ClassVar[type[EncoderConfig]] = ErnieConfig
    prefix: ClassVar[str] = "ernie"
    weight_map: ClassVar[dict] = ERNIE_WEIGHT_MAP
    hf_model_type: ClassVar[str | None] = "ernie"
    hf_architecture: ClassVar[str | None] = "ErnieForPreTraining"

    def __init__(self, config: EncoderConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        if self.use_task_id:
            self.embeddings.task_type_embeddings = uninitialized_embedding(self.task_type_vocab_size, self.embedding_size)
            self.init_model_weights(self.embeddings.task_type_embeddings)

    def _split_inputs(self, inputs: Any) -> dict[str, Any]:
        if isinstance(inputs, torch.Tensor):
            inputs = [inputs]
        inputs = list(inputs)
        task_ids = None
        if self.use_task_id and len(inputs) > 1 + (self.segment_vocab_size > 0):
            task_ids = inputs.pop(1 + (self.segment_vocab_size > 0))
        parts = super()._split_inputs(inputs)
        if self.use_task_id:
            token_ids = parts["token_ids"]
            if task_ids is None:
                task_ids = torch.zeros(token_ids.shape[:2], dtype=torch.long, device=token_ids.device)
            extra = self.embeddings.task_type_embeddings(task_ids)
            parts["additional_embs"] = [*(parts["additional_embs"] or []), extra]
        return parts

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        config.update(use_task_id=self.use_task_id, task_type_vocab_size=self.task_type_vocab_size)
        return config
