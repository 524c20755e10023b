"""ALBERT: factorised embeddings and one Transformer layer shared by all depths (``ALBERT_Unshared``: not shared).

Checkpoint layout: HF ``AlbertForPreTraining`` (``albert.*``, ``predictions.*``, ``sop_classifier.*``) with one
layer group and one inner layer, as every released ALBERT has. ``ALBERT_Unshared`` loads the same checkpoint into
``num_hidden_layers`` independent copies (one checkpoint tensor feeds every layer), so they can be fine-tuned apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import nn

from ._config import EncoderConfig
from .bert import BERT

__all__ = ["ALBERT", "ALBERT_WEIGHT_MAP", "ALBERT_Unshared", "AlbertConfig", "albert_weight_map"]


@dataclass(frozen=True, kw_only=True)
class AlbertConfig(EncoderConfig):
    """ALBERT options. ``inner_group_num`` must be 1; ``num_hidden_groups`` is 1 for every released checkpoint and
    ``num_hidden_layers`` for files that ``ALBERT_Unshared.save_pretrained`` writes (one group per layer)."""

    hidden_act: str = "gelu_new"  # HF AlbertConfig default
    num_hidden_groups: int = 1  # layer groups in the checkpoint: 1 (shared) or num_hidden_layers (unshared)
    checked: ClassVar[dict[str, tuple]] = {"inner_group_num": (1,)}


_LAYER = "albert.encoder.albert_layer_groups.0.albert_layers.0."
_LAYER_MAP = {
    "attention.query.weight": "multiHeadAttention.q.weight",
    "attention.query.bias": "multiHeadAttention.q.bias",
    "attention.key.weight": "multiHeadAttention.k.weight",
    "attention.key.bias": "multiHeadAttention.k.bias",
    "attention.value.weight": "multiHeadAttention.v.weight",
    "attention.value.bias": "multiHeadAttention.v.bias",
    "attention.dense.weight": "multiHeadAttention.o.weight",
    "attention.dense.bias": "multiHeadAttention.o.bias",
    "attention.LayerNorm.weight": "layerNorm1.weight",
    "attention.LayerNorm.bias": "layerNorm1.bias",
    "ffn.weight": "feedForward.intermediateDense.weight",
    "ffn.bias": "feedForward.intermediateDense.bias",
    "ffn_output.weight": "feedForward.outputDense.weight",
    "ffn_output.bias": "feedForward.outputDense.bias",
    "full_layer_layer_norm.weight": "layerNorm2.weight",
    "full_layer_layer_norm.bias": "layerNorm2.bias",
}


def albert_weight_map(num_unshared_layers: int = 0, grouped: bool = False) -> dict[str, str | list[str] | None]:
    """The ALBERT map.

    Args:
        num_unshared_layers: > 0: the one shared checkpoint layer feeds that many independent layers.
        grouped: the checkpoint has one layer group per layer (``albert_layer_groups.{i}`` -> ``encoderLayer.{i}``).
    """
    layer_prefix = _LAYER.replace("albert_layer_groups.0.", "albert_layer_groups.{}.") if grouped else _LAYER

    def layer_target(ours: str) -> str | list[str]:
        if grouped:
            return f"encoderLayer.{{}}.{ours}"
        if num_unshared_layers:
            return [f"encoderLayer.{i}.{ours}" for i in range(num_unshared_layers)]
        return f"encoderLayer.0.{ours}"

    return {
        "albert.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        "albert.embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
        "albert.embeddings.token_type_embeddings.weight": "embeddings.segment_embeddings.weight",
        "albert.embeddings.LayerNorm.weight": "embeddings.layerNorm.weight",
        "albert.embeddings.LayerNorm.bias": "embeddings.layerNorm.bias",
        "albert.embeddings.position_ids": None,
        "albert.embeddings.token_type_ids": None,
        "albert.encoder.embedding_hidden_mapping_in.weight": "embeddings.embedding_hidden_mapping_in.weight",
        "albert.encoder.embedding_hidden_mapping_in.bias": "embeddings.embedding_hidden_mapping_in.bias",
        **{layer_prefix + k: layer_target(v) for k, v in _LAYER_MAP.items()},
        "albert.pooler.weight": "pooler.weight",
        "albert.pooler.bias": "pooler.bias",
        "sop_classifier.classifier.weight": "nsp.weight",
        "sop_classifier.classifier.bias": "nsp.bias",
        "predictions.dense.weight": "mlmDense.weight",
        "predictions.dense.bias": "mlmDense.bias",
        "predictions.LayerNorm.weight": "mlmLayerNorm.weight",
        "predictions.LayerNorm.bias": "mlmLayerNorm.bias",
        "predictions.decoder.weight": "mlmDecoder.weight",
        "predictions.bias": "mlmBias",
        "predictions.decoder.bias": "mlmBias",
    }


ALBERT_WEIGHT_MAP = albert_weight_map()


class ALBERT(BERT, config=AlbertConfig, prefix="albert", weight_map=ALBERT_WEIGHT_MAP, hf_model_type="albert",
             hf_architecture="AlbertForPreTraining"):
    """ALBERT (``model='albert'``): ``encoderLayer[0]`` applied ``num_hidden_layers`` times."""

    shared_layers: ClassVar[bool] = True

    def build(self) -> None:
        super().build()
        if self.shared_layers:
            if self.num_hidden_groups != 1:
                raise ValueError(f"ALBERT shares one layer group; num_hidden_groups={self.num_hidden_groups} needs "
                                 "model='albert_unshared' with one group per layer")
            self.encoderLayer = nn.ModuleList([self.encoderLayer[0]])

    def layer_sequence(self) -> Iterator[tuple[int, nn.Module]]:
        if not self.shared_layers:
            return super().layer_sequence()
        return ((l_i, self.encoderLayer[0]) for l_i in range(self.num_hidden_layers))

    def to_hf_config(self) -> dict[str, Any]:
        return {**super().to_hf_config(), "embedding_size": self.embedding_size, "num_hidden_groups": 1,
                "inner_group_num": 1}

class ALBERT_Unshared(ALBERT):  # noqa: N801 - the original's public name
    """ALBERT with independent layers initialised from the shared checkpoint layer (``model='albert_unshared'``)."""

    shared_layers: ClassVar[bool] = False

    def build(self) -> None:
        super().build()
        if self.num_hidden_groups not in (1, self.num_hidden_layers):
            raise ValueError(f"num_hidden_groups must be 1 or num_hidden_layers, got {self.num_hidden_groups}")
        grouped = self.num_hidden_groups == self.num_hidden_layers and self.num_hidden_layers > 1
        self.weight_map = albert_weight_map(grouped=True) if grouped else albert_weight_map(self.num_hidden_layers)

    def checkpoint_map(self) -> dict:
        """One HF layer group per layer, so transformers' AlbertModel runs the independent layers as they are."""
        return albert_weight_map(grouped=True)

    def to_hf_config(self) -> dict[str, Any]:
        return {**super().to_hf_config(), "num_hidden_groups": self.num_hidden_layers}
