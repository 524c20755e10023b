"""LLaMA (``model='llama'``): pre-RMSNorm decoder with RoPE, SwiGLU and grouped-query attention, with a KV cache.

Mirrors ``transformers.LlamaForCausalLM`` and loads its HF-format folders (``config.json`` plus safetensors). Qwen2
(``qwen2.py``) is this network with q/k/v biases, so it reuses :class:`Llama` with its own config and weight map.
Parameter names follow later bert4torch releases (``decoderLayer.{i}.multiHeadAttention.q``, ``attnLayerNorm``,
``ffnLayerNorm``, ``feedForward.intermediateDense`` = gate, ``intermediateDense2`` = up, ``outputDense`` = down).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn


from bert4torch.layers import FUSE_MAX_ROWS, fused_linear

from ._cache import CachedAttention, KVCache
from ._config import ConfigError
from .transformer import (
    DecoderBase,
    RMSNorm,
    activation,
    config_to_dict,
    decoder_inputs,
    decoder_outputs,
    output_activation,
    parse_config,
    run_decoder_layers,
    unpack_inputs,
)

__all__ = ["LLAMA_WEIGHT_MAP", "Llama", "LlamaConfig", "RotaryEmbedding", "apply_rotary", "normalize_rope_config"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LlamaConfig:
    """LLaMA hyper-parameters (HF ``LlamaConfig`` names; original bert4torch spellings are aliases)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width
    num_hidden_layers: int  # decoder layers
    num_attention_heads: int  # query heads
    intermediate_size: int  # SwiGLU width
    num_key_value_heads: int | None = None  # key/value heads for grouped-query attention; None = no grouping
    head_dim: int | None = None  # width of one head; None = hidden_size // num_attention_heads
    hidden_act: str = "silu"  # gate activation of the SwiGLU FFN
    max_position_embeddings: int = 2048  # informative only: RoPE has no table to outgrow
    rms_norm_eps: float = 1e-6  # RMSNorm epsilon
    rope_theta: float = 10000.0  # RoPE base
    qkv_bias: bool = False  # bias on q/k/v (HF attention_bias sets this and o_bias together)
    o_bias: bool = False  # bias on the attention output projection
    mlp_bias: bool = False  # bias on the three FFN projections
    tie_word_embeddings: bool = False  # LM head shares the token embedding
    token_pad_ids: int | None = None  # id masked out as padding; None = only an explicit attention_mask pads
    dropout_rate: float = 0.0  # residual dropout (training only; LLaMA checkpoints use none)
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> LlamaConfig:
        """From an HF ``config.json`` dict (or the original style); unknown keys raise, RoPE variants too."""
        data = split_attention_bias(normalize_rope_config(data))
        return parse_config(
            cls,
            data,
            split_attention_bias(normalize_rope_config(overrides or {})),
            aliases={"pad_token_id": "token_pad_ids", "layer_norm_eps": "rms_norm_eps",
                     "max_position": "max_position_embeddings", "hidden_dropout_prob": "dropout_rate"},
            required_values={"pretraining_tp": 1, "segment_vocab_size": 0},
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


def split_attention_bias(config: Mapping[str, Any]) -> dict[str, Any]:
    """HF LLaMA's one ``attention_bias`` switch covers q, k, v and o: spell it as our two fields."""
    config = dict(config)
    if "attention_bias" in config:
        bias = config.pop("attention_bias")
        config.setdefault("qkv_bias", bias)
        config.setdefault("o_bias", bias)
    return config


def normalize_rope_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Fold the RoPE settings of a config (v5 ``rope_parameters`` or v4 ``rope_theta``/``rope_scaling``) into
    ``rope_theta``; scaled RoPE variants are not implemented and raise instead of computing something else.

    Raises:
        ConfigError: ``rope_type`` other than ``'default'`` or a non-null ``rope_scaling``.
    """
    config = dict(config)
    params = config.pop("rope_parameters", None)
    if params:
        params = dict(params)
        rope_type = params.pop("rope_type", params.pop("type", "default"))
        if rope_type != "default":
            raise ConfigError(f"rope_type={rope_type!r} is not supported (only 'default')")
        theta = params.pop("rope_theta", None)
        if params.get("partial_rotary_factor", 1.0) in (None, 1.0):
            params.pop("partial_rotary_factor", None)
        if params:
            raise ConfigError(f"unsupported rope_parameters keys: {sorted(params)}")
        if theta is not None:
            config.setdefault("rope_theta", theta)
    scaling = config.pop("rope_scaling", None)
    if scaling is not None and dict(scaling).get("rope_type", dict(scaling).get("type")) != "default":
        raise ConfigError(f"rope_scaling={scaling!r} is not supported")
    return config


def rotate_half(x: Tensor) -> Tensor:
    """``[-x2, x1]`` for the two halves of the last axis (the HF/LLaMA RoPE convention, not interleaved pairs)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rotary(q: Tensor, k: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor]:
    """Rotate ``q`` and ``k`` (``[batch, heads, len, dim]``) by the angles in ``cos``/``sin`` (``[batch, len, dim]``)."""
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    return q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin


class RotaryEmbedding(nn.Module):
    """RoPE angles for arbitrary position ids (so left-padded rows and cached steps get their own positions).

    The inverse frequencies are recomputed per device rather than stored as a buffer: they are not weights, and a
    model built on the meta device needs nothing re-materialised.

    Args:
        head_dim: Width of one head (even).
        theta: RoPE base.
    """

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        self.head_dim = head_dim
        self.theta = theta
        self._inv_freq: dict[torch.device, Tensor] = {}

    def inv_freq(self, device: torch.device) -> Tensor:
        """``1 / theta ** (2i / head_dim)`` in float32, on ``device``."""
        if device not in self._inv_freq:
            exponent = torch.arange(0, self.head_dim, 2, dtype=torch.int64).to(torch.float32) / self.head_dim
            self._inv_freq[device] = (1.0 / (self.theta**exponent)).to(device)
        return self._inv_freq[device]

    def forward(self, position_ids: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        """``(cos, sin)``, each ``[batch, len, head_dim]`` in ``dtype``, computed in float32."""
        freqs = position_ids[..., None].float() * self.inv_freq(position_ids.device)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


class LlamaFeedForward(nn.Module):
    """SwiGLU: ``outputDense(act(intermediateDense(x)) * intermediateDense2(x))``."""

    def __init__(self, hidden_size: int, intermediate_size: int, act: str, bias: bool) -> None:
        super().__init__()
        self.intermediateDense = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.intermediateDense2 = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.outputDense = nn.Linear(intermediate_size, hidden_size, bias=bias)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """The gated FFN."""
        if not torch.is_grad_enabled() and x.shape[0] * x.shape[1] <= FUSE_MAX_ROWS:
            # decoding steps: gate and up projections in one GEMM (see FUSE_MAX_ROWS)
            gate, up = fused_linear(x, (self.intermediateDense, self.intermediateDense2)).chunk(2, dim=-1)
            return self.outputDense(self.act(gate) * up)
        return self.outputDense(self.act(self.intermediateDense(x)) * self.intermediateDense2(x))


class LlamaLayer(nn.Module):
    """Pre-RMSNorm block with rotary self-attention and SwiGLU."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        h = config.hidden_size
        self.attnLayerNorm = RMSNorm(h, config.rms_norm_eps)
        self.multiHeadAttention = CachedAttention(
            h, config.num_attention_heads, config.head_size, num_kv_heads=config.kv_heads,
            qkv_bias=config.qkv_bias, o_bias=config.o_bias,
        )
        self.ffnLayerNorm = RMSNorm(h, config.rms_norm_eps)
        self.feedForward = LlamaFeedForward(h, config.intermediate_size, config.hidden_act, config.mlp_bias)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self, x: Tensor, bias: Tensor | None, is_causal: bool, cos: Tensor, sin: Tensor,
        past: tuple[Tensor, Tensor] | None,
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One block; returns the output and this layer's new ``(key, value)``."""

        def rope(q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
            return apply_rotary(q, k, cos, sin)

        attn, kv = self.multiHeadAttention(self.attnLayerNorm(x), bias=bias, is_causal=is_causal, past=past, rope=rope)
        x = x + self.dropout(attn)
        x = x + self.dropout(self.feedForward(self.ffnLayerNorm(x)))
        return x, kv


class _WordEmbeddings(nn.Module):
    """Holds ``word_embeddings`` under ``embeddings.`` (the original's naming)."""

    def __init__(self, vocab_size: int, hidden_size: int) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab_size, hidden_size)

    def forward(self, token_ids: Tensor) -> Tensor:
        """Token lookup."""
        return self.word_embeddings(token_ids)


class Llama(DecoderBase):
    """LLaMA-style causal language model returning logits (``model='llama'``; Qwen2 subclasses it).

    Args:
        config: A :class:`LlamaConfig` (``Qwen2Config`` for Qwen2), or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = LlamaConfig
    prefix: ClassVar[str] = "model"
    hf_model_type: ClassVar[str | None] = "llama"
    hf_architecture: ClassVar[str | None] = "LlamaForCausalLM"

    def __init__(self, config: Any = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.final_activation = config.final_activation
        self.weight_map = LLAMA_WEIGHT_MAP
        self.embeddings = _WordEmbeddings(config.vocab_size, config.hidden_size)
        self.rotary = RotaryEmbedding(config.head_size, config.rope_theta)
        self.decoderLayer = nn.ModuleList(LlamaLayer(config) for _ in range(config.num_hidden_layers))
        self.LayerNormFinal = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embeddings.word_embeddings.weight

    def tied_weights(self) -> dict[str, str]:
        """Parameter names that share storage with another one: ``{alias: owner}``."""
        return {"lm_head.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.LlamaForCausalLM`` (Qwen2: ``Qwen2ForCausalLM``)."""
        c = self.config
        out = {
            "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.kv_heads,
            "head_dim": c.head_size, "intermediate_size": c.intermediate_size, "hidden_act": c.hidden_act,
            "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
            "tie_word_embeddings": c.tie_word_embeddings, "pad_token_id": c.token_pad_ids,
        }
        if self.hf_model_type == "llama":
            if c.qkv_bias != c.o_bias:
                raise ValueError("LLaMA's HF config has one attention_bias switch; qkv_bias != o_bias cannot be saved")
            out.update(attention_bias=c.qkv_bias, mlp_bias=c.mlp_bias)
        return out

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]``; see ``GPT2.forward`` for the arguments (same cache protocol)."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        x = self.embeddings(token_ids)
        step = decoder_inputs(
            token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask, past=past_key_values,
            dtype=x.dtype,
        )
        cos, sin = self.rotary(step.position_ids, x.dtype)
        x, new_kv = run_decoder_layers(self.decoderLayer, x, past_key_values, step.bias, step.is_causal, cos, sin)
        logits = output_activation(self.lm_head(self.LayerNormFinal(x)), self.final_activation)
        return decoder_outputs(logits, new_kv, step, use_cache)


# HF LlamaForCausalLM checkpoint key -> our parameter name.
LLAMA_WEIGHT_MAP: dict[str, str | None] = {
    "model.embed_tokens.weight": "embeddings.word_embeddings.weight",
    "model.layers.{}.input_layernorm.weight": "decoderLayer.{}.attnLayerNorm.weight",
    "model.layers.{}.self_attn.q_proj.weight": "decoderLayer.{}.multiHeadAttention.q.weight",
    "model.layers.{}.self_attn.k_proj.weight": "decoderLayer.{}.multiHeadAttention.k.weight",
    "model.layers.{}.self_attn.v_proj.weight": "decoderLayer.{}.multiHeadAttention.v.weight",
    "model.layers.{}.self_attn.o_proj.weight": "decoderLayer.{}.multiHeadAttention.o.weight",
    "model.layers.{}.self_attn.q_proj.bias": "decoderLayer.{}.multiHeadAttention.q.bias",
    "model.layers.{}.self_attn.k_proj.bias": "decoderLayer.{}.multiHeadAttention.k.bias",
    "model.layers.{}.self_attn.v_proj.bias": "decoderLayer.{}.multiHeadAttention.v.bias",
    "model.layers.{}.self_attn.o_proj.bias": "decoderLayer.{}.multiHeadAttention.o.bias",
    "model.layers.{}.post_attention_layernorm.weight": "decoderLayer.{}.ffnLayerNorm.weight",
    "model.layers.{}.mlp.gate_proj.weight": "decoderLayer.{}.feedForward.intermediateDense.weight",
    "model.layers.{}.mlp.up_proj.weight": "decoderLayer.{}.feedForward.intermediateDense2.weight",
    "model.layers.{}.mlp.down_proj.weight": "decoderLayer.{}.feedForward.outputDense.weight",
    "model.layers.{}.mlp.gate_proj.bias": "decoderLayer.{}.feedForward.intermediateDense.bias",
    "model.layers.{}.mlp.up_proj.bias": "decoderLayer.{}.feedForward.intermediateDense2.bias",
    "model.layers.{}.mlp.down_proj.bias": "decoderLayer.{}.feedForward.outputDense.bias",
    "model.norm.weight": "LayerNormFinal.weight",
    "lm_head.weight": "lm_head.weight",
    # v4 checkpoints stored the RoPE frequencies; they are recomputed
    "model.layers.{}.self_attn.rotary_emb.inv_freq": None,
}
