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

import torch

from bert4torch.layers import RoPEPositionEncoding

from ._config import EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["ROFORMER_V2_WEIGHT_MAP", "ROFORMER_WEIGHT_MAP", "RoFormer", "RoFormerConfig", "RoFormerV2", "RoFormerV2Config"]


@dataclass(frozen=True, kw_only=True)
class RoFormerConfig(EncoderConfig):
    """RoFormer options."""

    checked: ClassVar[dict[str, tuple]] = {"rotary_value": (False,)}


ROFORMER_WEIGHT_MAP: dict[str, str | list[str] | None] = {
    **{k: v for k, v in bert_weight_map("roformer").items() if "position_embeddings" not in k},
    "roformer.embeddings_project.weight": "embeddings.embedding_hidden_mapping_in.weight",
    "roformer.embeddings_project.bias": "embeddings.embedding_hidden_mapping_in.bias",
    "roformer.encoder.embed_positions.weight": None,  # fixed sinusoid table, recomputed
}


class RoFormer(BERT, config=RoFormerConfig, prefix="roformer", weight_map=ROFORMER_WEIGHT_MAP, hf_model_type="roformer",
               hf_architecture="RoFormerForMaskedLM"):
    """RoFormer (``model='roformer'``): rotary attention, no position embedding."""

    position_type: ClassVar[str | None] = None

    def build(self) -> None:
        super().build()
        self.rotary = RoPEPositionEncoding(self.max_position, self.attention_key_size or self.attention_head_size)

    def embed(self, parts: dict[str, Any], conditional_emb: torch.Tensor | None) -> torch.Tensor:
        return super().embed({**parts, "position_ids": None}, conditional_emb)  # custom positions go to the RoPE

    def layer_extras(self, inputs: list[Any]) -> dict[str, Any]:
        """The RoPE angles of the positions, computed once for every layer."""
        hidden, position_ids = inputs[0], getattr(inputs, "position_ids", None)
        if position_ids is None:
            position_ids = torch.arange(hidden.shape[1], device=hidden.device)[None]
        return {"rotary": self.rotary.angles(position_ids, hidden.dtype)}

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        del config["position_embedding_type"]
        return {**config, "embedding_size": self.embedding_size, "rotary_value": False}

@dataclass(frozen=True, kw_only=True)
class RoFormerV2Config(EncoderConfig):
    """RoFormerV2 options (the original's defaults: relu FFN, no biases, parameter-free RMS norm)."""

    hidden_act: str = "relu"
    absent_heads: ClassVar[tuple[tuple[str, ...], str]] = (("with_pool", "with_nsp"), "use with_mlm")


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


class RoFormerV2(RoFormer, config=RoFormerV2Config, weight_map=ROFORMER_V2_WEIGHT_MAP, hf_model_type=None,
                 hf_architecture=None):
    """RoFormerV2 (``model='roformer_v2'``): outputs ``hidden`` or ``[hidden, mlm_scores]``."""

    # relu FFN, no biases, parameter-free RMS norms (the original's RoFormerV2)
    norm_kwargs: ClassVar[dict[str, Any]] = {"norm_mode": "rmsnorm", "norm_weight": False, "norm_bias": False}

    def embeddings_kwargs(self) -> dict[str, Any]:
        return {**super().embeddings_kwargs(), **self.norm_kwargs}

    def layer_kwargs(self) -> dict[str, Any]:
        return {**super().layer_kwargs(), **self.norm_kwargs, "bias": False}

    def build_heads(self) -> None:
        if self.with_mlm:
            self.build_mlm_decoder()
            self.register_parameter("mlmBias", None)

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers = inputs[0]
        hidden = encoded_layers if self.output_all_encoded_layers else encoded_layers[-1]
        return [hidden, self.mlm_scores(encoded_layers[-1])] if self.with_mlm else hidden

    vocab_parameters: ClassVar[tuple[str, ...]] = ("embeddings.word_embeddings.weight", "mlmDecoder.weight")
