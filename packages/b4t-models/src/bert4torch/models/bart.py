"""BART (``model='bart'``): the generic post-LN encoder-decoder with BART's settings, loaded from HF folders.

Mirrors ``transformers.BartForConditionalGeneration``: learned positions with fairseq's offset of 2 rows, a
LayerNorm on the embeddings, encoder and decoder sharing one token embedding, an LM head tied to it plus
``final_logits_bias``. The network is :class:`bert4torch.models.transformer.Transformer`; this file holds the config
adapter and the weight map. HF's position table is kept as it is (two rows before position 0) and the offset is
added when looking positions up. Decoder positions count real tokens (not indices as in transformers), so a
left-padded decoder row gives the same logits as the row alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor

from ._config import ConfigError
from ._weights import module_keys
from .transformer import Transformer, TransformerConfig

__all__ = ["BART", "BART_WEIGHT_MAP", "BartConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BartConfig(TransformerConfig):
    """:class:`TransformerConfig` with BART's defaults; HF ``BartConfig`` keys are mapped explicitly."""

    max_position: int = 1024  # usable positions (HF max_position_embeddings)
    position_offset: int = 2  # fairseq's two extra rows before position 0
    layer_norm_eps: float = 1e-5  # nn.LayerNorm default used by BART
    tie_emb_src_tgt_weight: bool = True  # one shared token embedding
    final_logits_bias: bool = True  # HF's final_logits_bias row
    token_pad_ids: int = 1  # BART pads with 1

    aliases: ClassVar[dict[str, str]] = {
        "d_model": "hidden_size", "encoder_layers": "num_hidden_layers", "decoder_layers": "num_decoder_layers",
        "activation_function": "hidden_act", "dropout": "dropout_rate", "init_std": "initializer_range",
        "attention_dropout": "attention_probs_dropout_prob",
    }
    # activation_dropout (dropout inside the FFN) is a training detail not implemented here
    checked: ClassVar[dict[str, tuple]] = {"normalize_before": (False,), "add_final_layer_norm": (False,)}

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Fold HF's per-stack head/FFN sizes into our single fields (they must agree: one size per model here)."""
        for ours, enc, dec in (("num_attention_heads", "encoder_attention_heads", "decoder_attention_heads"),
                               ("intermediate_size", "encoder_ffn_dim", "decoder_ffn_dim")):
            values = {data.pop(k) for k in (enc, dec) if k in data}
            if len(values) > 1:
                raise ConfigError(f"BartConfig: {enc} and {dec} differ ({sorted(values)}); only equal sizes are "
                                  "supported")
            if values:
                data.setdefault(ours, values.pop())
        return data


_ENC, _DEC = "model.encoder.layers.{}", "model.decoder.layers.{}"
_ENC_OURS, _DEC_OURS = "encoder.encoderLayer.{}", "decoder.decoderLayer.{}"
_ATTENTION = {"q_proj": "q", "k_proj": "k", "v_proj": "v", "out_proj": "o"}

# HF BartForConditionalGeneration key -> our name.
BART_WEIGHT_MAP: dict[str, str | None] = {
    "model.shared.weight": "encoder.embeddings.word_embeddings.weight",
    "model.encoder.embed_tokens.weight": "encoder.embeddings.word_embeddings.weight",
    "model.decoder.embed_tokens.weight": "decoder.embeddings.word_embeddings.weight",
    "model.encoder.embed_positions.weight": "encoder.embeddings.position_embeddings.weight",
    "model.decoder.embed_positions.weight": "decoder.embeddings.position_embeddings.weight",
    **module_keys({
        "model.encoder.layernorm_embedding": "encoder.embeddings.layerNorm",
        "model.decoder.layernorm_embedding": "decoder.embeddings.layerNorm",
        **{f"{_ENC}.self_attn.{h}": f"{_ENC_OURS}.multiHeadAttention.{o}" for h, o in _ATTENTION.items()},
        f"{_ENC}.self_attn_layer_norm": f"{_ENC_OURS}.layerNorm1",
        f"{_ENC}.fc1": f"{_ENC_OURS}.feedForward.intermediateDense",
        f"{_ENC}.fc2": f"{_ENC_OURS}.feedForward.outputDense",
        f"{_ENC}.final_layer_norm": f"{_ENC_OURS}.layerNorm2",
        **{f"{_DEC}.self_attn.{h}": f"{_DEC_OURS}.multiHeadAttention.{o}" for h, o in _ATTENTION.items()},
        f"{_DEC}.self_attn_layer_norm": f"{_DEC_OURS}.layerNorm1",
        **{f"{_DEC}.encoder_attn.{h}": f"{_DEC_OURS}.crossAttention.{o}" for h, o in _ATTENTION.items()},
        f"{_DEC}.encoder_attn_layer_norm": f"{_DEC_OURS}.crossLayerNorm",
        f"{_DEC}.fc1": f"{_DEC_OURS}.feedForward.intermediateDense",
        f"{_DEC}.fc2": f"{_DEC_OURS}.feedForward.outputDense",
        f"{_DEC}.final_layer_norm": f"{_DEC_OURS}.layerNorm2",
    }),
    "lm_head.weight": "decoder.lm_head.weight",
    "final_logits_bias": "decoder.final_logits_bias",
}


class BART(Transformer, config=BartConfig, prefix="model", weight_map=BART_WEIGHT_MAP, hf_model_type="bart",
           hf_architecture="BartForConditionalGeneration"):
    """BART: ``model([[encoder_ids], [decoder_ids]]) -> [encoder_hidden, decoder_hidden, logits]`` with a cache."""

    def load_variable(self, name: str, tensor: Tensor) -> Tensor:
        """The vocabulary surgery, and a position table of ``max_position`` rows (the original's
        ``convert_bart_fudanNLP.py`` drops fairseq's two rows before position 0) gets those rows back as zeros:
        no position reads them."""
        tensor = super().load_variable(name, tensor)
        offset, rows = self.config.position_offset, self.config.max_position
        if name.endswith("embeddings.position_embeddings.weight") and offset and len(tensor) == rows:
            tensor = torch.cat([tensor.new_zeros(offset, *tensor.shape[1:]), tensor])
        return tensor

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.BartForConditionalGeneration``."""
        c = self.config
        if not (c.tie_emb_src_tgt_weight and c.position_offset == 2 and c.embedding_layer_norm and c.final_logits_bias):
            raise ValueError("this model does not have BART's layout; it cannot be saved as an HF BART")
        return {
            "vocab_size": c.effective_vocab_size, "d_model": c.hidden_size, "encoder_layers": c.num_hidden_layers,
            "decoder_layers": c.num_decoder_layers, "encoder_attention_heads": c.num_attention_heads,
            "decoder_attention_heads": c.num_attention_heads, "encoder_ffn_dim": c.intermediate_size,
            "decoder_ffn_dim": c.intermediate_size, "activation_function": c.hidden_act,
            "max_position_embeddings": c.max_position, "dropout": c.dropout_rate,
            "attention_dropout": c.attention_probs_dropout_prob, "scale_embedding": c.scale_embedding,
            "pad_token_id": c.token_pad_ids, "tie_word_embeddings": c.tie_word_embeddings,
            "is_encoder_decoder": True, "decoder_start_token_id": 2, "bos_token_id": 0, "eos_token_id": 2,
        }
