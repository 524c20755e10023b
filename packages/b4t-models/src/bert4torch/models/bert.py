"""BERT (and RoBERTa in the Chinese RoBERTa-wwm layout, and the generic encoder): module, config, weight map.

The checkpoint layout is HF's ``BertForPreTraining`` (``bert.embeddings...``, ``cls.predictions...``,
``cls.seq_relationship...``); ``BertModel``/sentence-transformers files without the ``bert.`` prefix load too.
Reference: transformers ``models/bert/modeling_bert.py``; the original bert4torch ``BERT`` class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from bert4torch.activations import get_activation
from bert4torch.layers import BertEmbeddings, BertLayer, Identity, LayerNorm

from ._base import BERT_BASE
from ._config import EncoderConfig

__all__ = ["BERT", "BERT_WEIGHT_MAP", "BertConfig", "Encoder", "bert_weight_map"]


@dataclass(kw_only=True)
class BertConfig(EncoderConfig):
    """BERT options: everything in :class:`EncoderConfig`."""


def bert_weight_map(prefix: str = "bert", head_prefix: str = "cls") -> dict[str, str | list[str] | None]:
    """The BERT checkpoint map (checkpoint key -> our name) for a given family prefix.

    ``cls.predictions.decoder.bias`` is the same tensor as ``cls.predictions.bias`` in HF (tied), so both feed
    ``mlmBias``; the first is the one written back when saving.
    """
    p, h = prefix, head_prefix
    return {
        f"{p}.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        f"{p}.embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
        f"{p}.embeddings.token_type_embeddings.weight": "embeddings.segment_embeddings.weight",
        f"{p}.embeddings.LayerNorm.weight": "embeddings.layerNorm.weight",
        f"{p}.embeddings.LayerNorm.bias": "embeddings.layerNorm.bias",
        f"{p}.embeddings.position_ids": None,
        f"{p}.embeddings.token_type_ids": None,
        f"{p}.encoder.layer.{{}}.attention.self.query.weight": "encoderLayer.{}.multiHeadAttention.q.weight",
        f"{p}.encoder.layer.{{}}.attention.self.query.bias": "encoderLayer.{}.multiHeadAttention.q.bias",
        f"{p}.encoder.layer.{{}}.attention.self.key.weight": "encoderLayer.{}.multiHeadAttention.k.weight",
        f"{p}.encoder.layer.{{}}.attention.self.key.bias": "encoderLayer.{}.multiHeadAttention.k.bias",
        f"{p}.encoder.layer.{{}}.attention.self.value.weight": "encoderLayer.{}.multiHeadAttention.v.weight",
        f"{p}.encoder.layer.{{}}.attention.self.value.bias": "encoderLayer.{}.multiHeadAttention.v.bias",
        f"{p}.encoder.layer.{{}}.attention.output.dense.weight": "encoderLayer.{}.multiHeadAttention.o.weight",
        f"{p}.encoder.layer.{{}}.attention.output.dense.bias": "encoderLayer.{}.multiHeadAttention.o.bias",
        f"{p}.encoder.layer.{{}}.attention.output.LayerNorm.weight": "encoderLayer.{}.layerNorm1.weight",
        f"{p}.encoder.layer.{{}}.attention.output.LayerNorm.bias": "encoderLayer.{}.layerNorm1.bias",
        f"{p}.encoder.layer.{{}}.intermediate.dense.weight": "encoderLayer.{}.feedForward.intermediateDense.weight",
        f"{p}.encoder.layer.{{}}.intermediate.dense.bias": "encoderLayer.{}.feedForward.intermediateDense.bias",
        f"{p}.encoder.layer.{{}}.output.dense.weight": "encoderLayer.{}.feedForward.outputDense.weight",
        f"{p}.encoder.layer.{{}}.output.dense.bias": "encoderLayer.{}.feedForward.outputDense.bias",
        f"{p}.encoder.layer.{{}}.output.LayerNorm.weight": "encoderLayer.{}.layerNorm2.weight",
        f"{p}.encoder.layer.{{}}.output.LayerNorm.bias": "encoderLayer.{}.layerNorm2.bias",
        f"{p}.pooler.dense.weight": "pooler.weight",
        f"{p}.pooler.dense.bias": "pooler.bias",
        f"{h}.seq_relationship.weight": "nsp.weight",
        f"{h}.seq_relationship.bias": "nsp.bias",
        f"{h}.predictions.transform.dense.weight": "mlmDense.weight",
        f"{h}.predictions.transform.dense.bias": "mlmDense.bias",
        f"{h}.predictions.transform.LayerNorm.weight": "mlmLayerNorm.weight",
        f"{h}.predictions.transform.LayerNorm.bias": "mlmLayerNorm.bias",
        f"{h}.predictions.decoder.weight": "mlmDecoder.weight",
        f"{h}.predictions.bias": "mlmBias",
        f"{h}.predictions.decoder.bias": "mlmBias",
    }


BERT_WEIGHT_MAP = bert_weight_map()


class BERT(BERT_BASE):
    """BERT: absolute positions, post-LN layers, optional pooler/NSP/MLM heads.

    Outputs: ``[hidden_states, pooled, mlm_scores, nsp_scores]`` keeping the ones switched on; a single output is
    returned unwrapped. ``output_all_encoded_layers`` makes the first item the list of all layers (index 0 is the
    embedding output).
    """

    config_class: ClassVar[type[EncoderConfig]] = BertConfig
    prefix: ClassVar[str] = "bert"
    weight_map: ClassVar[dict] = BERT_WEIGHT_MAP
    hf_model_type: ClassVar[str | None] = "bert"
    hf_architecture: ClassVar[str | None] = "BertForPreTraining"
    # layer keyword arguments that families change (rotary, relative positions, norms without weights)
    position_type: ClassVar[str | None] = "absolute"

    def __init__(self, config: EncoderConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self.embeddings = self.build_embeddings()
        self.encoderLayer = nn.ModuleList(
            [self.build_layer(i) if self.keep_hidden_layers is None or i in self.keep_hidden_layers else Identity()
             for i in range(self.num_hidden_layers)]
        )
        self.build_heads()
        self.tie_weights()
        self.apply(self.init_model_weights)
        self.tie_weights()

    # -------------------------------------------------------------------------------------------- building blocks
    def effective_vocab_size(self) -> int:
        n = len(self.keep_tokens) if self.keep_tokens is not None else self.vocab_size
        return n + len(self.compound_tokens or [])

    def embeddings_kwargs(self) -> dict[str, Any]:
        return {
            "position_type": self.position_type,
            "layer_add_embs": self.layer_add_embs,
            "hierarchical_position": self.hierarchical_position,
            "layer_norm_eps": self.layer_norm_eps,
        }

    def build_embeddings(self) -> nn.Module:
        return BertEmbeddings(
            self.effective_vocab_size(), self.embedding_size, self.hidden_size, self.max_position, self.segment_vocab_size,
            self.shared_segment_embeddings, self.dropout_rate, self.conditional_size, self.token_pad_ids,
            **self.embeddings_kwargs(),
        )

    def layer_kwargs(self) -> dict[str, Any]:
        return {
            "attention_head_size": self.attention_head_size,
            "attention_key_size": self.attention_key_size,
            "attention_scale": self.attention_scale,
            "max_position": self.max_position,
            "layer_norm_eps": self.layer_norm_eps,
        }

    def build_layer(self, index: int) -> nn.Module:
        return BertLayer(
            self.hidden_size, self.num_attention_heads, self.dropout_rate, self.attention_probs_dropout_prob,
            self.intermediate_size, self.hidden_act, self.is_dropout, self.conditional_size, **self.layer_kwargs(),
        )

    def build_heads(self) -> None:
        if self.with_pool:
            self.pooler = nn.Linear(self.hidden_size, self.hidden_size)
            self.pooler_activation = get_activation("tanh" if self.with_pool is True else self.with_pool)
            if self.with_nsp:
                self.nsp = nn.Linear(self.hidden_size, 2)
        if self.with_mlm:
            self.mlmDense = nn.Linear(self.hidden_size, self.embedding_size)
            self.transform_act_fn = get_activation(self.hidden_act)
            self.mlmLayerNorm = LayerNorm(self.embedding_size, eps=self.layer_norm_eps, conditional_size=self.conditional_size)
            self.mlmDecoder = nn.Linear(self.embedding_size, self.effective_vocab_size(), bias=False)
            self.mlmBias = nn.Parameter(torch.zeros(self.effective_vocab_size()))
            self.mlm_activation = None if self.with_mlm is True else get_activation(self.with_mlm)

    # -------------------------------------------------------------------------------------------- heads
    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers, conditional_emb = inputs[0], inputs[1]
        sequence_output = encoded_layers[-1]
        if not self.output_all_encoded_layers:
            encoded_layers = sequence_output
        pooled = nsp_scores = mlm_scores = None
        if self.with_pool:
            pooled = self.pooler_activation(self.pooler(sequence_output[:, 0]))
            if self.with_nsp:
                nsp_scores = self.nsp(pooled)
        if self.with_mlm:
            x = self.transform_act_fn(self.mlmDense(sequence_output))
            x = self.mlmLayerNorm((x, conditional_emb))
            mlm_scores = self.mlmDecoder(x) + self.mlmBias
            if self.mlm_activation is not None:
                mlm_scores = self.mlm_activation(mlm_scores)
        outputs = [v for v in (encoded_layers, pooled, mlm_scores, nsp_scores) if v is not None]
        return outputs if len(outputs) > 1 else outputs[0]

    def to_hf_config(self) -> dict[str, Any]:
        config = super().to_hf_config()
        config["position_embedding_type"] = "absolute"
        return config


class Encoder(BERT):
    """The generic Transformer encoder of the original (``model='encoder'``): a BERT without heads by default."""

    hf_architecture: ClassVar[str | None] = "BertModel"
