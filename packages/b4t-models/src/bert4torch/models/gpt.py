"""OpenAI GPT (``model='gpt'``): post-LN decoder with learned positions and a tied LM head, with a KV cache.

Mirrors ``transformers.OpenAIGPTLMHeadModel``: ``n = LN1(x + attn(x))``, ``h = LN2(n + mlp(n))``, no embedding or
final LayerNorm. Segment ids (CDial-GPT's speaker ids; HF ``token_type_ids``) are looked up in the word embedding,
the original's ``shared_segment_embeddings``; pass ``segment_vocab_size > 0`` to take ``[token_ids, segment_ids]``.
The original returned softmax probabilities by default (fixed in its 0.2.8); ours returns logits, and
``final_activation='softmax'`` is the explicit option. The HF checkpoint has GPT-2's Conv1D/fused-qkv layout, so
the surgery functions of ``gpt2.py`` are reused.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from ._cache import CachedAttention, KVCache
from ._config import ConfigError
from .gpt2 import GPT2FeedForward, gpt2_merge_c_attn, gpt2_split_c_attn
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

__all__ = ["GPT", "GPTConfig", "GPT_WEIGHT_MAP"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPTConfig:
    """OpenAI GPT hyper-parameters (original bert4torch names; HF ``OpenAIGPTConfig`` names are aliases)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width (HF n_embd)
    num_hidden_layers: int  # layers (HF n_layer)
    num_attention_heads: int  # heads (HF n_head)
    intermediate_size: int | None = None  # FFN width; None = 4 * hidden_size
    hidden_act: str = "gelu_new"  # HF's 'gelu' for openai-gpt is the tanh approximation (ACT_FNS)
    max_position: int = 512  # rows of the position table (HF n_positions)
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    dropout_rate: float = 0.0  # residual/embedding dropout (training only)
    segment_vocab_size: int = 0  # > 0: inputs are [token_ids, segment_ids]
    shared_segment_embeddings: bool = True  # segment ids index the word embedding (the only layout implemented)
    tie_word_embeddings: bool = True  # LM head shares the token embedding
    token_pad_ids: int | None = None  # id masked out as padding; None = only an explicit attention_mask pads
    final_activation: str = "linear"  # 'linear' returns logits (the original defaulted to softmax: a defect)
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> GPTConfig:
        """From an HF ``config.json`` dict or the original bert4torch config; unknown keys raise."""
        data, over = _gpt_act(data), _gpt_act(overrides or {})
        config = parse_config(
            cls, data, over,
            aliases={"n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
                     "n_inner": "intermediate_size", "n_positions": "max_position",
                     "max_position_embeddings": "max_position", "layer_norm_epsilon": "layer_norm_eps",
                     "resid_pdrop": "dropout_rate", "hidden_dropout_prob": "dropout_rate",
                     "pad_token_id": "token_pad_ids", "type_vocab_size": "segment_vocab_size"},
            ignored=frozenset({"embd_pdrop", "attn_pdrop", "attention_probs_dropout_prob"}),
        )
        if not config.shared_segment_embeddings:
            raise ConfigError("GPTConfig: only shared_segment_embeddings=True (segment ids in the word table) is implemented")
        return config

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)


def _gpt_act(config: Mapping[str, Any]) -> dict[str, Any]:
    """HF's ``afn`` names openai-gpt's activations, where 'gelu' means the tanh approximation."""
    config = dict(config)
    if "afn" in config:
        afn = config.pop("afn")
        config.setdefault("hidden_act", {"gelu": "gelu_new", "swish": "silu"}.get(afn, afn))
    return config


class GPTLayer(nn.Module):
    """Post-LN block: ``n = layerNorm1(x + attn(x))``, ``layerNorm2(n + ffn(n))``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        h, heads = config.hidden_size, config.num_attention_heads
        self.multiHeadAttention = CachedAttention(h, heads, h // heads)
        self.layerNorm1 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.feedForward = GPT2FeedForward(h, config.intermediate_size or 4 * h, config.hidden_act)
        self.layerNorm2 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self, x: Tensor, bias: Tensor | None, is_causal: bool, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One block; returns the output and this layer's new ``(key, value)``."""
        attn, kv = self.multiHeadAttention(x, bias=bias, is_causal=is_causal, past=past)
        n = self.layerNorm1(x + self.dropout(attn))
        return self.layerNorm2(n + self.dropout(self.feedForward(n))), kv


class GPTEmbeddings(nn.Module):
    """Token + position (+ segment, looked up in the token table) embeddings, no LayerNorm."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, token_ids: Tensor, position_ids: Tensor, segment_ids: Tensor | None) -> Tensor:
        """Sum of the lookups."""
        x = self.word_embeddings(token_ids) + self.position_embeddings(position_ids)
        if segment_ids is not None:
            x = x + self.word_embeddings(segment_ids)
        return self.dropout(x)


class GPT(DecoderBase):
    """OpenAI GPT language model returning logits (``model='gpt'``).

    Args:
        config: A :class:`GPTConfig`, or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = GPTConfig
    prefix: ClassVar[str] = "transformer"
    hf_model_type: ClassVar[str | None] = "openai-gpt"
    hf_architecture: ClassVar[str | None] = "OpenAIGPTLMHeadModel"

    def __init__(self, config: GPTConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = GPT_WEIGHT_MAP
        self.embeddings = GPTEmbeddings(config)
        self.encoderLayer = nn.ModuleList(GPTLayer(config) for _ in range(config.num_hidden_layers))
        self.dense = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        return {"dense.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def convert_checkpoint_tensors(self, items: Iterable[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
        """Loader hook: the Conv1D/fused-qkv layout shared with GPT-2."""
        return gpt2_split_c_attn(items)

    def restore_checkpoint_tensors(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Saving hook: back to the fused ``c_attn`` and Conv1D layout."""
        return gpt2_merge_c_attn(state)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.OpenAIGPTLMHeadModel``."""
        c = self.config
        afn = {"gelu_new": "gelu", "silu": "silu", "relu": "relu"}.get(c.hidden_act)
        if afn is None or c.intermediate_size not in (None, 4 * c.hidden_size):
            raise ValueError("openai-gpt's HF config cannot express this activation or FFN width")
        return {
            "vocab_size": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers,
            "n_head": c.num_attention_heads, "afn": afn, "n_positions": c.max_position,
            "layer_norm_epsilon": c.layer_norm_eps, "resid_pdrop": c.dropout_rate, "embd_pdrop": c.dropout_rate,
            "tie_word_embeddings": c.tie_word_embeddings, "pad_token_id": c.token_pad_ids,
        }

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]`` (or ``[token_ids, segment_ids]``); same cache protocol as ``GPT2.forward``."""
        names = ("token_ids", "segment_ids") if self.config.segment_vocab_size else ("token_ids",)
        parts = unpack_inputs(inputs, names)
        token_ids, segment_ids = parts[0], (parts[1] if len(parts) > 1 else None)
        step = decoder_inputs(
            token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask, past=past_key_values,
            dtype=self.embeddings.word_embeddings.weight.dtype,
        )
        x = self.embeddings(token_ids, step.position_ids, segment_ids)
        x, new_kv = run_decoder_layers(self.encoderLayer, x, past_key_values, step.bias, step.is_causal)
        logits = output_activation(self.dense(x), self.final_activation)
        return decoder_outputs(logits, new_kv, step, use_cache)

    @property
    def final_activation(self) -> str:
        """The output option of the config."""
        return self.config.final_activation


# HF OpenAIGPTLMHeadModel key (after gpt2_split_c_attn) -> our name.
GPT_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.tokens_embed.weight": "embeddings.word_embeddings.weight",
    "transformer.positions_embed.weight": "embeddings.position_embeddings.weight",
    "transformer.h.{}.attn.q.weight": "encoderLayer.{}.multiHeadAttention.q.weight",
    "transformer.h.{}.attn.q.bias": "encoderLayer.{}.multiHeadAttention.q.bias",
    "transformer.h.{}.attn.k.weight": "encoderLayer.{}.multiHeadAttention.k.weight",
    "transformer.h.{}.attn.k.bias": "encoderLayer.{}.multiHeadAttention.k.bias",
    "transformer.h.{}.attn.v.weight": "encoderLayer.{}.multiHeadAttention.v.weight",
    "transformer.h.{}.attn.v.bias": "encoderLayer.{}.multiHeadAttention.v.bias",
    "transformer.h.{}.attn.c_proj.weight": "encoderLayer.{}.multiHeadAttention.o.weight",
    "transformer.h.{}.attn.c_proj.bias": "encoderLayer.{}.multiHeadAttention.o.bias",
    "transformer.h.{}.ln_1.weight": "encoderLayer.{}.layerNorm1.weight",
    "transformer.h.{}.ln_1.bias": "encoderLayer.{}.layerNorm1.bias",
    "transformer.h.{}.mlp.c_fc.weight": "encoderLayer.{}.feedForward.intermediateDense.weight",
    "transformer.h.{}.mlp.c_fc.bias": "encoderLayer.{}.feedForward.intermediateDense.bias",
    "transformer.h.{}.mlp.c_proj.weight": "encoderLayer.{}.feedForward.outputDense.weight",
    "transformer.h.{}.mlp.c_proj.bias": "encoderLayer.{}.feedForward.outputDense.bias",
    "transformer.h.{}.ln_2.weight": "encoderLayer.{}.layerNorm2.weight",
    "transformer.h.{}.ln_2.bias": "encoderLayer.{}.layerNorm2.bias",
    "lm_head.weight": "dense.weight",
    # the causal-mask buffer of old checkpoints is not a weight
    "transformer.h.{}.attn.bias": None,
}
