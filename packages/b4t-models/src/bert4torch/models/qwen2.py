"""Qwen2 (``model='qwen2'``): the LLaMA network with biases on q/k/v, loaded from HF-format folders.

Mirrors ``transformers.Qwen2ForCausalLM``. The module is :class:`bert4torch.models.llama.Llama`; this file holds what
differs: the config (q/k/v bias on, output bias off, its own defaults) and the weight map (identical key layout to
LLaMA). Sliding-window attention is not implemented, so a config that turns it on is rejected.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from ._config import ConfigError
from .llama import LLAMA_WEIGHT_MAP, Llama, normalize_rope_config
from .transformer import config_to_dict, parse_config

__all__ = ["QWEN2_WEIGHT_MAP", "Qwen2", "Qwen2Config"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Qwen2Config:
    """Qwen2 hyper-parameters (HF ``Qwen2Config`` names)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width
    num_hidden_layers: int  # decoder layers
    num_attention_heads: int  # query heads
    intermediate_size: int  # SwiGLU width
    num_key_value_heads: int | None = None  # key/value heads (grouped-query attention); None = no grouping
    head_dim: int | None = None  # width of one head; None = hidden_size // num_attention_heads
    hidden_act: str = "silu"  # gate activation of the SwiGLU FFN
    max_position_embeddings: int = 32768  # informative only (RoPE)
    rms_norm_eps: float = 1e-6  # RMSNorm epsilon
    rope_theta: float = 10000.0  # RoPE base
    qkv_bias: bool = True  # Qwen2's defining difference from LLaMA
    o_bias: bool = False  # no bias on the output projection
    mlp_bias: bool = False  # no bias in the FFN
    tie_word_embeddings: bool = False  # small Qwen2 checkpoints (0.5B, 1.5B) tie, larger ones do not
    token_pad_ids: int | None = None  # id masked out as padding; None = only an explicit attention_mask pads
    dropout_rate: float = 0.0  # residual dropout (training only)
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> Qwen2Config:
        """From an HF ``config.json`` dict; unknown keys, sliding windows and scaled RoPE raise."""
        data = normalize_rope_config(data)
        layer_types = data.pop("layer_types", None)
        if layer_types is not None and any(t != "full_attention" for t in layer_types):
            raise ConfigError(f"layer_types other than full_attention are not supported: {layer_types}")
        return parse_config(
            cls,
            data,
            normalize_rope_config(overrides or {}),
            aliases={"pad_token_id": "token_pad_ids", "max_position": "max_position_embeddings"},
            # the window size is irrelevant while use_sliding_window is False (checked below)
            ignored=frozenset({"sliding_window"}),
            required_values={"use_sliding_window": False, "segment_vocab_size": 0},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def kv_heads(self) -> int:
        """Key/value heads after applying the default."""
        return self.num_key_value_heads or self.num_attention_heads

    @property
    def head_size(self) -> int:
        """Width of one head after applying the default."""
        return self.head_dim or self.hidden_size // self.num_attention_heads


class Qwen2(Llama):
    """Qwen2 causal language model (the :class:`Llama` module with a :class:`Qwen2Config`, ``model='qwen2'``)."""

    config_class: ClassVar[type] = Qwen2Config
    hf_model_type: ClassVar[str | None] = "qwen2"
    hf_architecture: ClassVar[str | None] = "Qwen2ForCausalLM"

    def __init__(self, config: Qwen2Config | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        self.weight_map = QWEN2_WEIGHT_MAP


# Qwen2's HF keys are LLaMA's (model.layers.{}.self_attn.q_proj.{weight,bias}, ...).
QWEN2_WEIGHT_MAP: dict[str, str | None] = dict(LLAMA_WEIGHT_MAP)
