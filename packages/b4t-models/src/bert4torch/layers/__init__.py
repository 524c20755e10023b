"""bert4torch.layers: the building blocks of the model zoo and the task layers of the original.

Blocks: ``LayerNorm`` (normal, rmsnorm, conditional), ``MultiHeadAttentionLayer`` (SDPA; absolute, RoPE, NEZHA
relative, additive T5-style biases), ``PositionWiseFeedForward``, ``BertEmbeddings``, ``BertLayer``, position
encodings. Task layers: ``CRF``, ``GlobalPointer``, ``EfficientGlobalPointer``, ``TplinkerHandshakingKernel``,
``MixUp``, ``BERT_WHITENING``, ``get_pool_emb``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ._attention import MultiHeadAttentionLayer
from ._ffn import PositionWiseFeedForward
from ._fused import FUSE_MAX_ROWS, clear_fused_cache, fused_linear
from ._norm import LayerNorm
from ._position import (
    RelativePositionsEncoding,
    RelativePositionsEncodingDebertaV2,
    RelativePositionsEncodingT5,
    RoPEPositionEncoding,
    SinusoidalPositionEncoding,
    create_position_ids_from_input_ids,
    get_sinusoid_encoding_table,
    t5_relative_position_bucket,
)
from ._transformer import BertEmbeddings, BertLayer, Identity

# task layers live in their own modules and load on first use
_LAZY = {
    "CRF": "_crf",
    "GlobalPointer": "_heads",
    "EfficientGlobalPointer": "_heads",
    "TplinkerHandshakingKernel": "_heads",
    "MixUp": "_misc",
    "BERT_WHITENING": "_misc",
    "get_pool_emb": "_misc",
    "GatedAttentionUnit": "_gau",
    "ConvLayer": "_misc",
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
    "PositionWiseFeedForward",
    "RelativePositionsEncoding",
    "RelativePositionsEncodingDebertaV2",
    "RelativePositionsEncodingT5",
    "RoPEPositionEncoding",
    "SinusoidalPositionEncoding",
    "TplinkerHandshakingKernel",
    "create_position_ids_from_input_ids",
    "get_pool_emb",
    "get_sinusoid_encoding_table",
    "t5_relative_position_bucket",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
