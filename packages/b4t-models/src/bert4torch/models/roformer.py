"""RoFormer (rotary position embedding on q and k, no absolute positions) and RoFormerV2 (no biases, no norm
parameters: ``x / rms(x)``).

RoFormer checkpoint layout: HF ``RoFormerForMaskedLM`` (``roformer.*``, ``cls.*``); the sinusoid table HF stores
as ``roformer.encoder.embed_positions.weight`` is functional and dropped. RoFormerV2 (Su Jianlin, 2022) has no
``transformers`` class; its checkpoints (junnyu's PyTorch ports) use the same key names minus every bias and norm
weight, and the MLM head is a bare decoder. Reference: the papers and the original bert4torch ``RoFormerV2``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from bert4torch.activations import get_activation
from bert4torch.layers import BertEmbeddings, BertLayer

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["ROFORMER_V2_WEIGHT_MAP", "ROFORMER_WEIGHT_MAP", "RoFormer", "RoFormerConfig", "RoFormerV2", "RoFormerV2Config"]


@dataclass(kw_only=True)
class RoFormerConfig(EncoderConfig):
    """RoFormer options."""

    checked: ClassVar[dict[str, tuple]] = {"rotary_value": (False,)}


ROFORMER_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k: v for k, v in bert_weight_map("roformer").items() if "position_embeddings" not in k},
    "roformer.embeddings_project.weight": "embeddings.embedding_hidden_mapping_in.weight",
    "roformer.embeddings_project.bias": "embeddings.embedding_hidden_mapping_in.bias",
    "roformer.encoder.embed_positions.weight": None,  # fixed sinusoid table, recomputed
}


class RoFormer(BERT):
    """RoFormer (``model='roformer'``): rotary attention, no position embedding."""

    config_class: ClassVar[type[EncoderConfig]] = RoFormerConfig
    prefix: ClassVar[str] = "roformer"
    weight_map: ClassVar[dict] = ROFORMER_WEIGHT_MAP
    hf_model_type: ClassVar[str | None] = "roformer"
    hf_architecture: ClassVar[str | None] = "RoFormerForMaskedLM"
    position_type: ClassVar[str | None] = None
    _absolute_position_input: ClassVar[bool] = False  # custom position ids go to the rotary layers

    def layer_kwargs(self) -> dict[str, Any]:
        return {**super().layer_kwargs(), "p_bias": "rotary"}

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        config.pop("position_embedding_type", None)
        config.update(embedding_size=self.embedding_size, rotary_value=False)
        return config


@dataclass(kw_only=True)
class RoFormerV2Config(EncoderConfig):
    """RoFormerV2 options (the original's defaults: relu FFN, no biases, parameter-free RMS norm)."""

    hidden_act: str = "relu"


ROFORMER_V2_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    "roformer.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
    "roformer.embeddings.token_type_embeddings.weight": "embeddings.segment_embeddings.weight",
    "roformer.encoder.layer.{}.attention.self.query.weight": "encoderLayer.{}.multiHeadAttention.q.weight",
    "roformer.encoder.layer.{}.attention.self.key.weight": "encoderLayer.{}.multiHeadAttention.k.weight",
    "roformer.encoder.layer.{}.attention.self.value.weight": "encoderLayer.{}.multiHeadAttention.v.weight",
    "roformer.encoder.layer.{}.attention.output.dense.weight": "encoderLayer.{}.multiHeadAttention.o.weight",
    "roformer.encoder.layer.{}.intermediate.dense.weight": "encoderLayer.{}.feedForward.intermediateDense.weight",
    "roformer.encoder.layer.{}.output.dense.weight": "encoderLayer.{}.feedForward.outputDense.weight",
    "roformer.encoder.embed_positions.weight": None,
    "cls.predictions.decoder.weight": "mlmDecoder.weight",
}


class RoFormerV2(RoFormer):
    """RoFormerV2 (``model='roformer_v2'``): outputs ``hidden`` or ``[hidden, mlm_scores]``."""

    config_class: ClassVar[type[EncoderConfig]] = RoFormerV2Config
    weight_map: ClassVar[dict] = ROFORMER_V2_WEIGHT_MAP
    hf_model_type: ClassVar[str | None] = None
    hf_architecture: ClassVar[str | None] = None

    def __init__(self, config: EncoderConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        if self.with_pool or self.with_nsp:
            raise ValueError("RoFormerV2 has no pooler/NSP head (as in the original); use with_mlm")

    def build_embeddings(self) -> nn.Module:
        return BertEmbeddings(
            self.effective_vocab_size(), self.embedding_size, self.hidden_size, self.max_position, self.segment_vocab_size,
            self.shared_segment_embeddings, self.dropout_rate, self.conditional_size, self.token_pad_ids,
            position_type=None, layer_add_embs=self.layer_add_embs, layer_norm_eps=self.layer_norm_eps,
            norm_mode="rmsnorm", norm_weight=False, norm_bias=False,
        )

    def build_layer(self, index: int) -> nn.Module:
        return BertLayer(
            self.hidden_size, self.num_attention_heads, self.dropout_rate, self.attention_probs_dropout_prob,
            self.intermediate_size, self.hidden_act, self.is_dropout, self.conditional_size,
            **{**self.layer_kwargs(), "bias": False, "norm_mode": "rmsnorm", "norm_weight": False, "norm_bias": False},
        )

    def build_heads(self) -> None:
        if self.with_mlm:
            self.mlmDecoder = nn.Linear(self.embedding_size, self.effective_vocab_size(), bias=False)
            self.mlm_activation = None if self.with_mlm is True else get_activation(self.with_mlm)

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers = inputs[0]
        hidden = encoded_layers if self.output_all_encoded_layers else encoded_layers[-1]
        if not self.with_mlm:
            return hidden
        scores = self.mlmDecoder(encoded_layers[-1])
        if self.mlm_activation is not None:
            scores = self.mlm_activation(scores)
        return [hidden, scores]

    vocab_parameters: ClassVar[tuple[str, ...]] = ("embeddings.word_embeddings.weight", "mlmDecoder.weight")

    def save_pretrained(self, save_path: Any) -> None:
        raise NotImplementedError("RoFormerV2 has no transformers class; use save_weights")
