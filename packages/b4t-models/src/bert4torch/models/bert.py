"""BERT (and RoBERTa in the Chinese RoBERTa-wwm layout, and the generic encoder): config, weight map, build.

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

from ._config import EncoderConfig
from ._encoder import BERT_BASE
from ._weights import module_keys

__all__ = ["BERT", "BERT_WEIGHT_MAP", "BertConfig", "Encoder", "bert_layout_keys", "bert_weight_map"]


@dataclass(frozen=True, kw_only=True)
class BertConfig(EncoderConfig):
    """BERT options: everything in :class:`EncoderConfig`."""


def bert_layout_keys(prefix: str) -> dict[str, str | None]:
    """The embeddings and layers of the BERT layout under ``prefix`` (checkpoint key -> our name).

    The original's convert scripts write decoder checkpoints in this layout too (``gpt.``, ``gpt2.``,
    ``gpt2_ml.encoder.layer.N.attention.self.query...``): every family's layers carry these names.
    """
    layer, ours = f"{prefix}.encoder.layer.{{}}.", "encoderLayer.{}."
    layer_map = {
        "attention.self.query": "multiHeadAttention.q", "attention.self.key": "multiHeadAttention.k",
        "attention.self.value": "multiHeadAttention.v", "attention.output.dense": "multiHeadAttention.o",
        "attention.output.LayerNorm": "layerNorm1", "intermediate.dense": "feedForward.intermediateDense",
        "output.dense": "feedForward.outputDense", "output.LayerNorm": "layerNorm2",
    }
    return {
        f"{prefix}.embeddings.word_embeddings.weight": "embeddings.word_embeddings.weight",
        f"{prefix}.embeddings.position_embeddings.weight": "embeddings.position_embeddings.weight",
        f"{prefix}.embeddings.token_type_embeddings.weight": "embeddings.segment_embeddings.weight",
        f"{prefix}.embeddings.LayerNorm.weight": "embeddings.layerNorm.weight",
        f"{prefix}.embeddings.LayerNorm.bias": "embeddings.layerNorm.bias",
        f"{prefix}.embeddings.position_ids": None,
        f"{prefix}.embeddings.token_type_ids": None,
        **module_keys({layer + theirs: ours + mine for theirs, mine in layer_map.items()}),
    }


def bert_weight_map(prefix: str = "bert", head_prefix: str = "cls") -> dict[str, str | list[str] | None]:
    """The BERT checkpoint map (checkpoint key -> our name) for a given family prefix.

    ``cls.predictions.decoder.bias`` is the same tensor as ``cls.predictions.bias`` in HF (tied), so both feed
    ``mlmBias``; the first is the one written back when saving.
    """
    p, h = prefix, head_prefix
    cross = {"crossattention.self.query": "crossAttention.q", "crossattention.self.key": "crossAttention.k",
             "crossattention.self.value": "crossAttention.v", "crossattention.output.dense": "crossAttention.o",
             "crossattention.output.LayerNorm": "crossLayerNorm"}
    return {
        **bert_layout_keys(prefix),
        # is_decoder=True: HF's cross-attention keys, and the original's own name of its norm (layerNorm3)
        **module_keys({f"{p}.encoder.layer.{{}}.{theirs}": f"encoderLayer.{{}}.{ours}" for theirs, ours in cross.items()}),
        **module_keys({"encoderLayer.{}.layerNorm3": "encoderLayer.{}.crossLayerNorm"}),
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


class BERT(BERT_BASE, config=BertConfig, prefix="bert", weight_map=BERT_WEIGHT_MAP, hf_model_type="bert",
           hf_architecture="BertForPreTraining"):
    """BERT: absolute positions, post-LN layers, optional pooler/NSP/MLM heads.

    Outputs: ``[hidden_states, pooled, mlm_scores, nsp_scores]`` keeping the ones switched on; a single output is
    returned unwrapped. ``output_all_encoded_layers`` makes the first item the list of all layers (index 0 is the
    embedding output).
    """

    position_type: ClassVar[str | None] = "absolute"  # None: the family encodes positions in attention

    def build(self) -> None:
        super().build()
        self.embeddings = self.build_embeddings()
        keep = self.keep_hidden_layers
        self.encoderLayer = nn.ModuleList(self.build_layer(i) if keep is None or i in keep else Identity()
                                          for i in range(self.num_hidden_layers))
        self.build_heads()

    # -------------------------------------------------------------------------------------------- building blocks
    def embeddings_kwargs(self) -> dict[str, Any]:
        """Keyword options of the embeddings that families change."""
        return {"position_type": self.position_type, "layer_add_embs": self.layer_add_embs,
                "hierarchical_position": self.hierarchical_position, "layer_norm_eps": self.layer_norm_eps}

    def build_embeddings(self) -> nn.Module:
        c = self.config
        return BertEmbeddings(c.effective_vocab_size, c.embedding_size, c.hidden_size, c.max_position,
                              c.segment_vocab_size, c.shared_segment_embeddings, c.dropout_rate, c.conditional_size,
                              c.token_pad_ids, **self.embeddings_kwargs())

    def layer_kwargs(self) -> dict[str, Any]:
        """Keyword options of every layer (attention and norm options) that families change."""
        return {"attention_head_size": self.attention_head_size, "attention_key_size": self.attention_key_size,
                "attention_scale": self.attention_scale, "max_position": self.max_position,
                "layer_norm_eps": self.layer_norm_eps}

    def build_layer(self, index: int) -> nn.Module:
        c = self.config
        return BertLayer(c.hidden_size, c.num_attention_heads, c.dropout_rate, c.attention_probs_dropout_prob,
                         c.intermediate_size, c.hidden_act, c.is_dropout, c.conditional_size, is_decoder=c.is_decoder,
                         **self.layer_kwargs())

    def build_heads(self) -> None:
        c = self.config
        if c.with_pool:
            self.pooler = nn.Linear(c.hidden_size, c.hidden_size)
            self.pooler_activation = get_activation("tanh" if c.with_pool is True else c.with_pool)
            if c.with_nsp:
                self.nsp = nn.Linear(c.hidden_size, 2)
        if c.with_mlm:
            self.mlmDense = nn.Linear(c.hidden_size, c.embedding_size)
            self.transform_act_fn = get_activation(c.hidden_act)
            self.mlmLayerNorm = LayerNorm(c.embedding_size, eps=c.layer_norm_eps, conditional_size=c.conditional_size)
            self.build_mlm_decoder()
            self.mlmBias = nn.Parameter(torch.zeros(c.effective_vocab_size))

    def build_mlm_decoder(self) -> None:
        """``mlmDecoder`` (tied to the word embedding by ``tie_emb_prj_weight``) and the MLM output activation."""
        self.mlmDecoder = nn.Linear(self.embedding_size, self.config.effective_vocab_size, bias=False)
        self.mlm_activation = None if self.with_mlm is True else get_activation(self.with_mlm)

    def mlm_scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """The MLM head's output for the last layer's ``hidden``."""
        scores = self.mlmDecoder(hidden)
        if self.mlmBias is not None:
            scores = scores + self.mlmBias
        return scores if self.mlm_activation is None else self.mlm_activation(scores)

    # -------------------------------------------------------------------------------------------- heads
    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers, conditional_emb = inputs[0], inputs[1]
        sequence_output = encoded_layers[-1]
        pooled = nsp_scores = mlm_scores = None
        if self.with_pool:
            pooled = self.pooler_activation(self.pooler(sequence_output[:, 0]))
            nsp_scores = self.nsp(pooled) if self.with_nsp else None
        if self.with_mlm:
            x = self.transform_act_fn(self.mlmDense(sequence_output))
            mlm_scores = self.mlm_scores(self.mlmLayerNorm(x if conditional_emb is None else (x, conditional_emb)))
        hidden = encoded_layers if self.output_all_encoded_layers else sequence_output
        outputs = [v for v in (hidden, pooled, mlm_scores, nsp_scores) if v is not None]
        return outputs if len(outputs) > 1 else outputs[0]

    def to_hf_config(self) -> dict[str, Any]:
        return {**super().to_hf_config(), "position_embedding_type": "absolute"}

class Encoder(BERT, hf_architecture="BertModel"):
    """The generic Transformer encoder of the original (``model='encoder'``): a BERT without heads by default."""
