"""OpenAI GPT (``model='gpt'``): post-LN decoder with learned positions and a tied LM head, with a KV cache.

Mirrors ``transformers.OpenAIGPTLMHeadModel``: ``n = LN1(x + attn(x))``, ``h = LN2(n + mlp(n))``, no embedding or
final LayerNorm. Segment ids (CDial-GPT's speaker ids; HF ``token_type_ids``) are looked up in the word embedding,
the original's ``shared_segment_embeddings``; pass ``segment_vocab_size > 0`` to take ``[token_ids, segment_ids]``.
The model returns logits; ``final_activation='softmax'`` is the explicit option for probabilities. The HF
checkpoint has GPT-2's Conv1D/fused-qkv layout (``gpt2.OpenAICheckpoint``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import nn

from bert4torch.layers import POST_NORM

from ._config import ConfigError, DecoderConfig
from ._decoder import CausalLM, decoder_embeddings, decoder_layers
from .bert import bert_layout_keys
from .gpt2 import GPT2_WEIGHT_MAP, OpenAICheckpoint

__all__ = ["GPT", "GPTConfig", "GPT_WEIGHT_MAP"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPTConfig(DecoderConfig):
    """OpenAI GPT hyper-parameters (original bert4torch names; HF ``OpenAIGPTConfig`` names are aliases)."""

    hidden_act: str = "gelu_new"  # HF's 'gelu' for openai-gpt is the tanh approximation (ACT_FNS)
    segment_vocab_size: int = 0  # > 0: inputs are [token_ids, segment_ids]
    shared_segment_embeddings: bool = True  # segment ids index the word embedding (the only layout implemented)

    aliases: ClassVar[dict[str, str]] = {
        "n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
        "n_inner": "intermediate_size", "n_positions": "max_position", "resid_pdrop": "dropout_rate",
        "attn_pdrop": "attention_probs_dropout_prob", "type_vocab_size": "segment_vocab_size",
    }
    ignored: ClassVar[frozenset[str]] = frozenset({"embd_pdrop"})

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """HF's ``afn`` names openai-gpt's activation, where 'gelu' means the tanh approximation."""
        if "afn" in data:
            afn = data.pop("afn")
            data.setdefault("hidden_act", {"gelu": "gelu_new", "swish": "silu"}.get(afn, afn))
        return data

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.shared_segment_embeddings:
            raise ConfigError("GPTConfig: only shared_segment_embeddings=True (segment ids in the word table) is "
                              "implemented")


# HF OpenAIGPTLMHeadModel key (after gpt2_split_c_attn) -> our name: GPT-2's layer keys, other embedding names,
# no final norm.
GPT_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.tokens_embed.weight": "embeddings.word_embeddings.weight",
    "transformer.positions_embed.weight": "embeddings.position_embeddings.weight",
    **{k: v for k, v in GPT2_WEIGHT_MAP.items()
       if k.startswith("transformer.h.") and k != "transformer.h.{}.attn.masked_bias"},
    "lm_head.weight": "dense.weight",
    # the original's convert script (CDial-GPT, convert_gpt__CDial-GPT-LCCC.py) writes the BERT layout under `gpt.`
    **bert_layout_keys("gpt"),
}


class GPT(OpenAICheckpoint, CausalLM, config=GPTConfig, prefix="transformer", hf_model_type="openai-gpt",
          hf_architecture="OpenAIGPTLMHeadModel", weight_map=GPT_WEIGHT_MAP):
    """OpenAI GPT language model returning logits (``model='gpt'``): post-LN layers, no final norm, learned
    positions, segment ids (CDial-GPT's speaker ids, HF ``token_type_ids``) looked up in the word embedding.

    Args:
        config: A :class:`GPTConfig`, or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    layers_name, head_name = "encoderLayer", "dense"

    def build(self) -> None:
        c = self.config
        self.embeddings = decoder_embeddings(c, segment_vocab_size=c.segment_vocab_size)
        self.encoderLayer = decoder_layers(c, POST_NORM)
        self.dense = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def input_names(self) -> tuple[str, ...]:
        return ("token_ids", "segment_ids") if self.config.segment_vocab_size else ("token_ids",)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.OpenAIGPTLMHeadModel``."""
        c = self.config
        afn = {"gelu_new": "gelu", "silu": "silu", "relu": "relu"}.get(c.hidden_act)
        if afn is None or c.intermediate_size != 4 * c.hidden_size:
            raise ValueError("openai-gpt's HF config cannot express this activation or FFN width")
        return {
            "vocab_size": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers,
            "n_head": c.num_attention_heads, "afn": afn, "n_positions": c.max_position,
            "layer_norm_epsilon": c.layer_norm_eps, "resid_pdrop": c.dropout_rate, "embd_pdrop": c.dropout_rate,
            "attn_pdrop": c.attention_probs_dropout_prob, "tie_word_embeddings": c.tie_word_embeddings,
            "pad_token_id": c.token_pad_ids, "initializer_range": c.initializer_range,
        }
