"""RoBERTa: BERT with fairseq position ids (``padding_idx + 1`` onwards) and the ``lm_head`` MLM head.

Two checkpoint layouts load: HF ``RobertaForMaskedLM``/``RobertaModel`` (``roberta.*``, ``lm_head.*``) and the
Chinese RoBERTa-wwm files, which are plain BERT layout (``bert.*``, ``cls.*``). The fairseq position offset is on
when the config says ``model_type: roberta`` (an HF config) or ``roberta_position_ids=True``; the Chinese files come
with BERT configs, so they keep BERT positions, as in the original (where ``'roberta'`` was the BERT class).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bert4torch.layers import create_position_ids_from_input_ids

from ._config import EncoderConfig
from .bert import BERT, BERT_WEIGHT_MAP, bert_weight_map

__all__ = ["ROBERTA_WEIGHT_MAP", "RoBERTa", "RobertaConfig"]


@dataclass(frozen=True, kw_only=True)
class RobertaConfig(EncoderConfig):
    """RoBERTa options."""

    roberta_position_ids: bool = False  # positions start at token_pad_ids + 1 and skip padding (HF/fairseq RoBERTa)

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """An HF RoBERTa config (``model_type``) means fairseq positions counted from its ``pad_token_id``."""
        if data.get("model_type") in ("roberta", "xlm-roberta", "camembert") and "roberta_position_ids" not in data:
            data["roberta_position_ids"] = True
            if "pad_token_id" in data and "token_pad_ids" not in data:
                data["token_pad_ids"] = data["pad_token_id"]
        return data


ROBERTA_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k: v for k, v in bert_weight_map("roberta").items() if not k.startswith("cls.")},
    "lm_head.dense.weight": "mlmDense.weight",
    "lm_head.dense.bias": "mlmDense.bias",
    "lm_head.layer_norm.weight": "mlmLayerNorm.weight",
    "lm_head.layer_norm.bias": "mlmLayerNorm.bias",
    "lm_head.decoder.weight": "mlmDecoder.weight",
    "lm_head.bias": "mlmBias",
    "lm_head.decoder.bias": "mlmBias",
    **bert_weight_map("bert"),
}


class RoBERTa(BERT, config=RobertaConfig, prefix="roberta", weight_map=ROBERTA_WEIGHT_MAP, hf_model_type="roberta",
              hf_architecture="RobertaForMaskedLM"):
    """RoBERTa (``model='roberta'``)."""

    def _split_inputs(self, inputs: Any) -> dict[str, Any]:
        parts = super()._split_inputs(inputs)
        if self.roberta_position_ids and parts["position_ids"] is None and not parts["token_ids"].is_floating_point():
            parts["position_ids"] = create_position_ids_from_input_ids(parts["token_ids"], self.token_pad_ids)
        return parts

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        config["pad_token_id"] = self.token_pad_ids
        if not self.roberta_position_ids:
            # BERT-layout RoBERTa (Chinese wwm) is a BERT for transformers
            config.update(model_type="bert", architectures=["BertForPreTraining"])
        return config

    def checkpoint_map(self) -> dict:
        """BERT-layout RoBERTa (Chinese wwm) saves as the BERT files it came from."""
        return self.weight_map if self.roberta_position_ids else BERT_WEIGHT_MAP
