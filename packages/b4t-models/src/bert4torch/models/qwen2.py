"""Qwen2 (``model='qwen2'``): a preset of LLaMA (biases on q/k/v, 32k positions), loaded from HF-format folders.

Mirrors ``transformers.Qwen2ForCausalLM``: the network, the weight map and the config fields are LLaMA's; only the
defaults differ. Sliding-window attention is not implemented, so a config that turns it on is rejected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ._config import ConfigError
from .llama import LLAMA_WEIGHT_MAP, Llama, LlamaConfig

__all__ = ["QWEN2_WEIGHT_MAP", "Qwen2", "Qwen2Config"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Qwen2Config(LlamaConfig):
    """Qwen2 hyper-parameters: :class:`LlamaConfig` with Qwen2's defaults (HF ``Qwen2Config`` names)."""

    max_position_embeddings: int = 32768  # informative only (RoPE)
    qkv_bias: bool = True  # Qwen2's defining difference from LLaMA

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Sliding-window attention is not implemented: a config that turns it on is rejected."""
        layer_types = data.pop("layer_types", None)
        if layer_types is not None and any(t != "full_attention" for t in layer_types):
            raise ConfigError(f"layer_types other than full_attention are not supported: {layer_types}")
        if data.pop("use_sliding_window", False) is not False:
            raise ConfigError(f"{cls.__name__}: use_sliding_window=True is not supported (only False)")
        data.pop("sliding_window", None)  # the window size is irrelevant while use_sliding_window is False
        return super().preprocess(data)


class Qwen2(Llama, config=Qwen2Config, hf_model_type="qwen2", hf_architecture="Qwen2ForCausalLM"):
    """Qwen2 causal language model (the :class:`Llama` module with a :class:`Qwen2Config`, ``model='qwen2'``)."""

# Qwen2's HF keys are LLaMA's (model.layers.{}.self_attn.q_proj.{weight,bias}, ...).
QWEN2_WEIGHT_MAP: dict[str, str | None] = LLAMA_WEIGHT_MAP
