"""GPT2-ML (``model='gpt2_ml'``): the Grover-style GPT-2 of imcaspar/gpt2-ml, with a KV cache.

No ``transformers`` class exists; the equations (those of the original bert4torch ``GPT2_ML`` / bert4keras, where
only the FFN half of each block is normalised, twice) are::

    x = LayerNormEmb(word[ids] + position[pos])
    for each layer:  h = x + Attn(x)                      # causal, no norm before or after
                     x = LayerNorm2(h + FFN(LayerNorm1(h)))
    logits = x @ word^T                                   # tied head, no final norm

``tools/models_decoder_goldens.py`` computes these equations independently (plain tensor code) and stores the
outputs under ``tests/assets/models/decoder_gpt2_ml``; the test compares this module to them. Weights use our own
parameter names (the original loaded the output of its convert script, which used bert4torch names too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from ._cache import CachedAttention, KVCache
from .gpt2 import GPT2FeedForward
from .transformer import (
    DecoderBase,
    config_to_dict,
    decoder_inputs,
    decoder_outputs,
    output_activation,
    parse_config,
    run_decoder_layers,
    unpack_inputs,
)

__all__ = ["GPT2_ML", "GPT2MLConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPT2MLConfig:
    """GPT2-ML hyper-parameters (the original bert4torch config names)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width
    num_hidden_layers: int  # layers
    num_attention_heads: int  # heads
    intermediate_size: int  # FFN width
    hidden_act: str = "gelu"  # FFN activation
    max_position: int = 1024  # rows of the position table
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    dropout_rate: float = 0.0  # dropout (training only)
    token_pad_ids: int | None = 0  # padding id (the Chinese BERT vocabulary pads with 0)
    final_activation: str = "linear"  # 'linear' returns logits (the original defaulted to softmax)
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> GPT2MLConfig:
        """From the original bert4torch config of gpt2-ml; unknown keys raise."""
        return parse_config(
            cls, data, overrides,
            aliases={"max_position_embeddings": "max_position", "hidden_dropout_prob": "dropout_rate",
                     "layer_norm_epsilon": "layer_norm_eps", "pad_token_id": "token_pad_ids"},
            ignored=frozenset({"attention_probs_dropout_prob"}),
            required_values={"segment_vocab_size": 0, "type_vocab_size": 0},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)


class GPT2MLLayer(nn.Module):
    """``h = x + attn(x)``; ``layerNorm2(h + ffn(layerNorm1(h)))``."""

    def __init__(self, config: GPT2MLConfig) -> None:
        super().__init__()
        h, heads = config.hidden_size, config.num_attention_heads
        self.multiHeadAttention = CachedAttention(h, heads, h // heads)
        self.layerNorm1 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.feedForward = GPT2FeedForward(h, config.intermediate_size, config.hidden_act)
        self.layerNorm2 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self, x: Tensor, bias: Tensor | None, is_causal: bool, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One block; returns the output and this layer's new ``(key, value)``."""
        attn, kv = self.multiHeadAttention(x, bias=bias, is_causal=is_causal, past=past)
        h = x + self.dropout(attn)
        return self.layerNorm2(h + self.dropout(self.feedForward(self.layerNorm1(h)))), kv


class GPT2MLEmbeddings(nn.Module):
    """Token + position embeddings, then LayerNorm."""

    def __init__(self, config: GPT2MLConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position, config.hidden_size)
        self.layerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, token_ids: Tensor, position_ids: Tensor) -> Tensor:
        """Normalised sum of the two lookups."""
        return self.dropout(self.layerNorm(self.word_embeddings(token_ids) + self.position_embeddings(position_ids)))


class GPT2_ML(DecoderBase):  # noqa: N801 - the original's public name
    """GPT2-ML language model returning logits (``model='gpt2_ml'``), with the cache protocol of ``_cache.py``.

    Args:
        config: A :class:`GPT2MLConfig`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = GPT2MLConfig

    def __init__(self, config: GPT2MLConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = {}  # our own names: the original's convert script wrote bert4torch keys
        self.embeddings = GPT2MLEmbeddings(config)
        self.encoderLayer = nn.ModuleList(GPT2MLLayer(config) for _ in range(config.num_hidden_layers))
        self.dense = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """The LM head is the token embedding."""
        return {"dense.weight": "embeddings.word_embeddings.weight"}

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]``; same cache protocol as ``GPT2.forward``."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        step = decoder_inputs(
            token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask, past=past_key_values,
            dtype=self.embeddings.word_embeddings.weight.dtype,
        )
        x = self.embeddings(token_ids, step.position_ids)
        x, new_kv = run_decoder_layers(self.encoderLayer, x, past_key_values, step.bias, step.is_causal)
        logits = output_activation(self.dense(x), self.config.final_activation)
        return decoder_outputs(logits, new_kv, step, use_cache)
