"""bert4torch.layers: the building blocks of the model zoo and the task layers of the original.

One implementation of each block, used by encoders and decoders alike: ``LayerNorm`` (normal, rmsnorm,
conditional) and ``RMSNorm``, ``MultiHeadAttentionLayer`` (SDPA; KV cache, cross-attention, grouped-query; RoPE,
NEZHA, T5, DeBERTa and Transformer-XL positions), ``PositionWiseFeedForward`` (plain or gated), ``BertEmbeddings``,
``TransformerLayer`` (post-LN, pre-LN, cross-attention; ``BertLayer`` is its original signature), position encodings
(one sinusoid, one RoPE, one T5 bucket function). Task layers: ``CRF``, ``GlobalPointer``,
``EfficientGlobalPointer``, ``TplinkerHandshakingKernel``, ``MixUp``, ``BERT_WHITENING``, ``get_pool_emb``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._attention import MultiHeadAttentionLayer
from ._ffn import PositionWiseFeedForward
from ._fused import FUSE_MAX_ROWS, clear_fused_cache, fused_linear
from ._norm import LayerNorm, RMSNorm, rms_norm
from ._position import (
    RelativePositionsEncoding,
    RelativePositionsEncodingDebertaV2,
    RelativePositionsEncodingT5,
    RoPEPositionEncoding,
    RotaryAngles,
    SinusoidalPositionEncoding,
    T5PositionBias,
    create_position_ids_from_input_ids,
    get_sinusoid_encoding_table,
    inverse_frequencies,
    sinusoid,
    t5_relative_position_bucket,
)
from ._transformer import (
    POST_NORM,
    PRE_NORM,
    BertEmbeddings,
    BertLayer,
    Identity,
    TransformerLayer,
    uninitialized_embedding,
)

# task layers live in their own modules and load on first use
_LAZY = {
    "CRF": "_crf",
    "GlobalPointer": "_heads",
    "EfficientGlobalPointer": "_heads",
    "TplinkerHandshakingKernel": "_heads",
    "MixUp": "_mixup",
    "BERT_WHITENING": "_whitening",
    "get_pool_emb": "_pooling",
    "GatedAttentionUnit": "_gau",
    "ConvLayer": "_conv",
}

__all__ = [
    "BERT_WHITENING",
    "FUSE_MAX_ROWS",
    "BertEmbeddings",
    "BertLayer",
    "CRF",
    "ConvLayer",
    "EfficientGlobalPointer",
    "GatedAttentionUnit",
    "GlobalPointer",
    "Identity",
    "clear_fused_cache",
    "fused_linear",
    "LayerNorm",
    "MixUp",
    "MultiHeadAttentionLayer",
    "POST_NORM",
    "PRE_NORM",
    "PositionWiseFeedForward",
    "RMSNorm",
    "RelativePositionsEncoding",
    "RelativePositionsEncodingDebertaV2",
    "RelativePositionsEncodingT5",
    "RoPEPositionEncoding",
    "RotaryAngles",
    "SinusoidalPositionEncoding",
    "T5PositionBias",
    "TplinkerHandshakingKernel",
    "TransformerLayer",
    "create_position_ids_from_input_ids",
    "get_pool_emb",
    "get_sinusoid_encoding_table",
    "inverse_frequencies",
    "rms_norm",
    "sinusoid",
    "t5_relative_position_bucket",
    "uninitialized_embedding",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
