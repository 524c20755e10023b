"""UIE (universal information extraction, PaddleNLP): a BERT/ERNIE encoder with start/end pointer heads.

``linear_start``/``linear_end`` map each token to one logit; with ``sigmoid=True`` (default) the outputs are
probabilities. Outputs: ``[hidden_states, start_prob, end_prob]`` with the last two ``[btz, seq]``. Checkpoint layout:
the BERT map plus ``linear_start.*``/``linear_end.*`` (as the original's converted PaddleNLP checkpoints), with an
optional ERNIE 3.0 task embedding (``use_task_id``). No ``transformers`` class: tested against the original's outputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["UIE", "UIEConfig", "UIE_WEIGHT_MAP"]


@dataclass(frozen=True, kw_only=True)
class UIEConfig(EncoderConfig):
    """UIE options."""

    sigmoid: bool = True  # return probabilities (True) or logits
    use_task_id: bool = False  # ERNIE 3.0 task embedding (task id 0 for every token)
    task_type_vocab_size: int = 3  # rows of the task table


UIE_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **bert_weight_map("bert"),
    "bert.embeddings.task_type_embeddings.weight": "embeddings.task_type_embeddings.weight",
    "linear_start.weight": "linear_start.weight",
    "linear_start.bias": "linear_start.bias",
    "linear_end.weight": "linear_end.weight",
    "linear_end.bias": "linear_end.bias",
}


class UIE(BERT, config=UIEConfig, prefix="bert", weight_map=UIE_WEIGHT_MAP, hf_model_type=None):
    """UIE (``model='uie'``)."""

    def build(self) -> None:
        super().build()
        self.linear_start = nn.Linear(self.hidden_size, 1)
        self.linear_end = nn.Linear(self.hidden_size, 1)

    def embeddings_kwargs(self) -> dict[str, Any]:
        # ERNIE 3.0's task embedding, task 0 for every token
        return {**super().embeddings_kwargs(), "task_type_vocab_size": self.task_type_vocab_size * self.use_task_id}

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        outputs = super().apply_final_layers(inputs)
        hidden = outputs[0] if isinstance(outputs, list) else outputs
        last = hidden[-1] if self.output_all_encoded_layers else hidden
        start = self.linear_start(last).squeeze(-1)
        end = self.linear_end(last).squeeze(-1)
        if self.sigmoid:
            start, end = torch.sigmoid(start), torch.sigmoid(end)
        rest = outputs[1:] if isinstance(outputs, list) else []
        return [hidden, *rest, start, end]
