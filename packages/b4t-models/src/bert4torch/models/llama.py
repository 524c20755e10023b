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

from torch import Tensor, nn

from bert4torch.layers import BertEmbeddings, RMSNorm, RoPEPositionEncoding

from ._config import ConfigError, ModelConfig
from ._decoder import CausalLM, DecoderStep, decoder_layer
from ._weights import module_keys

__all__ = ["LLAMA_WEIGHT_MAP", "Llama", "LlamaConfig", "normalize_rope_config"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class LlamaConfig(ModelConfig):
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
    final_activation: str = "linear"  # 'linear' returns logits, an activation name ('softmax') applies it

    aliases: ClassVar[dict[str, str]] = {
        "pad_token_id": "token_pad_ids", "layer_norm_eps": "rms_norm_eps", "max_position": "max_position_embeddings",
        "hidden_dropout_prob": "dropout_rate",
    }
    checked: ClassVar[dict[str, tuple]] = {"pretraining_tp": (1,), "segment_vocab_size": (0,)}

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """RoPE settings folded into ``rope_theta``; HF's one ``attention_bias`` switch spelt as our two fields."""
        data = normalize_rope_config(data)
        if "attention_bias" in data:
            bias = data.pop("attention_bias")
            data.setdefault("qkv_bias", bias)
            data.setdefault("o_bias", bias)
        return data

    def __post_init__(self) -> None:
        self._check_heads("hidden_size", "num_attention_heads", "head_dim")
        self._set("num_key_value_heads", self.num_key_value_heads or self.num_attention_heads)
        self._set("head_dim", self.head_dim or self.hidden_size // self.num_attention_heads)
        self._check_activation("hidden_act", "final_activation")


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


# HF LlamaForCausalLM checkpoint key -> our parameter name.
LLAMA_WEIGHT_MAP: dict[str, str | None] = {
    "model.embed_tokens.weight": "embeddings.word_embeddings.weight",
    **module_keys({f"model.layers.{{}}.{theirs}": f"decoderLayer.{{}}.{ours}" for theirs, ours in {
        "self_attn.q_proj": "multiHeadAttention.q", "self_attn.k_proj": "multiHeadAttention.k",
        "self_attn.v_proj": "multiHeadAttention.v", "self_attn.o_proj": "multiHeadAttention.o",
        "mlp.gate_proj": "feedForward.intermediateDense", "mlp.up_proj": "feedForward.intermediateDense2",
        "mlp.down_proj": "feedForward.outputDense"}.items()}),
    **module_keys({"model.layers.{}.input_layernorm": "decoderLayer.{}.attnLayerNorm",
                   "model.layers.{}.post_attention_layernorm": "decoderLayer.{}.ffnLayerNorm",
                   "model.norm": "LayerNormFinal", "lm_head": "lm_head"}, ("weight",)),
    # v4 checkpoints stored the RoPE frequencies; they are recomputed
    "model.layers.{}.self_attn.rotary_emb.inv_freq": None,
}


class Llama(CausalLM, config=LlamaConfig, prefix="model", weight_map=LLAMA_WEIGHT_MAP, hf_model_type="llama",
            hf_architecture="LlamaForCausalLM"):
    """LLaMA-style causal language model returning logits (``model='llama'``; Qwen2 is a preset of it): pre-RMSNorm
    layers with rotary self-attention (the halves convention), grouped-query attention and SwiGLU.

    Args:
        config: A :class:`LlamaConfig` (``Qwen2Config`` for Qwen2), or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    final_name: ClassVar[str | None] = "LayerNormFinal"

    def build(self) -> None:
        c = self.config
        self.embeddings = BertEmbeddings(c.vocab_size, c.hidden_size, c.hidden_size, 0, 0, False, 0.0,
                                         position_type=None, layer_norm=False)
        self.rotary = RoPEPositionEncoding(c.max_position_embeddings, c.head_dim, theta=c.rope_theta, interleaved=False)
        # checkpoint names: attnLayerNorm / ffnLayerNorm, and the SwiGLU up projection is intermediateDense2
        self.decoderLayer = nn.ModuleList(
            decoder_layer(c.hidden_size, c.num_attention_heads, c.intermediate_size, c.hidden_act,
                          norms=("attnLayerNorm", None, "ffnLayerNorm", None), eps=c.rms_norm_eps, rms=True,
                          dropout=c.dropout_rate, head_size=c.head_dim, bias=c.qkv_bias, o_bias=c.o_bias,
                          mlp_bias=c.mlp_bias, gated="intermediateDense2", num_key_value_heads=c.num_key_value_heads)
            for _ in range(c.num_hidden_layers))
        self.LayerNormFinal = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def layer_inputs(self, step: DecoderStep, x: Tensor) -> dict[str, Any]:
        """The causal mask and the RoPE angles of the positions, computed once for every layer."""
        return {**super().layer_inputs(step, x), "rotary": self.rotary.angles(step.position_ids, x.dtype)}

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.LlamaForCausalLM`` (Qwen2: ``Qwen2ForCausalLM``)."""
        c = self.config
        out = {
            "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
            "head_dim": c.head_dim, "intermediate_size": c.intermediate_size, "hidden_act": c.hidden_act,
            "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
            "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
            "tie_word_embeddings": c.tie_word_embeddings, "pad_token_id": c.token_pad_ids,
            "initializer_range": c.initializer_range,
        }
        if self.hf_model_type == "llama":
            if c.qkv_bias != c.o_bias:
                raise ValueError("LLaMA's HF config has one attention_bias switch; qkv_bias != o_bias cannot be saved")
            out.update(attention_bias=c.qkv_bias, mlp_bias=c.mlp_bias)
        return out
