"""GPT-2 (``model='gpt2'``): pre-LN decoder with learned absolute positions and a tied LM head, with a KV cache.

Mirrors ``transformers.GPT2LMHeadModel`` (which mirrors OpenAI's TF code). Parameter names follow the original
bert4torch (``encoderLayer.{i}.multiHeadAttention.q``, ``LayerNormFinal``, ``dense``), so the weight map below is the
only bridge to the HF checkpoint. The HF checkpoint stores attention and MLP weights as ``Conv1D`` (``[in, out]``)
and q/k/v fused in ``c_attn``; :func:`gpt2_split_c_attn` / :func:`gpt2_merge_c_attn` do that surgery, before the
map when loading and after its inverse when saving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from ._cache import CachedAttention, KVCache
from .transformer import (
    DecoderBase,
    activation,
    config_to_dict,
    decoder_inputs,
    decoder_outputs,
    output_activation,
    parse_config,
    run_decoder_layers,
    unpack_inputs,
)

__all__ = ["GPT2", "GPT2Config", "GPT2_WEIGHT_MAP", "gpt2_merge_c_attn", "gpt2_split_c_attn"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPT2Config:
    """GPT-2 hyper-parameters (field names are the original bert4torch ones; HF names are aliases)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width (HF n_embd)
    num_hidden_layers: int  # decoder layers (HF n_layer)
    num_attention_heads: int  # heads per layer (HF n_head)
    intermediate_size: int | None = None  # FFN width; None = 4 * hidden_size (HF n_inner)
    hidden_act: str = "gelu_new"  # FFN activation; GPT-2 uses the tanh approximation
    max_position: int = 1024  # rows of the position embedding (HF n_positions)
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    dropout_rate: float = 0.0  # residual and embedding dropout (training only)
    attention_probs_dropout_prob: float = 0.0  # dropout on attention probabilities (training only)
    tie_word_embeddings: bool = True  # LM head shares the token embedding
    token_pad_ids: int | None = None  # id whose positions are masked out; None: GPT-2 has no padding id
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities (an explicit option)
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> GPT2Config:
        """From an HF ``config.json`` dict or the original bert4torch config; ``overrides`` (keyword options) win."""
        return parse_config(
            cls,
            data,
            overrides,
            aliases={
                "n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
                "n_inner": "intermediate_size", "activation_function": "hidden_act", "n_positions": "max_position",
                "max_position_embeddings": "max_position", "layer_norm_epsilon": "layer_norm_eps",
                "resid_pdrop": "dropout_rate", "attn_pdrop": "attention_probs_dropout_prob",
                "hidden_dropout_prob": "dropout_rate", "pad_token_id": "token_pad_ids",
            },
            # embd_pdrop is folded into dropout_rate (GPT-2 checkpoints set both equal)
            ignored=frozenset({"embd_pdrop"}),
            # segment_vocab_size=0 is what the original's GPT-2 examples pass; GPT-2 has no segment embedding
            required_values={"scale_attn_weights": True, "scale_attn_by_inverse_layer_idx": False,
                             "reorder_and_upcast_attn": False, "segment_vocab_size": 0},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def ffn_size(self) -> int:
        """The FFN width after applying the default."""
        return self.intermediate_size or 4 * self.hidden_size


class GPT2FeedForward(nn.Module):
    """Position-wise FFN with the original's names (``intermediateDense``, ``outputDense``)."""

    def __init__(self, hidden_size: int, intermediate_size: int, act: str) -> None:
        super().__init__()
        self.intermediateDense = nn.Linear(hidden_size, intermediate_size)
        self.outputDense = nn.Linear(intermediate_size, hidden_size)
        self.act = activation(act)

    def forward(self, x: Tensor) -> Tensor:
        """``outputDense(act(intermediateDense(x)))``."""
        return self.outputDense(self.act(self.intermediateDense(x)))


class GPT2Layer(nn.Module):
    """Pre-LN block: ``x + attn(ln1(x))``, then ``x + ffn(ln2(x))``."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        h = config.hidden_size
        heads = config.num_attention_heads
        self.layerNorm1 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.multiHeadAttention = CachedAttention(h, heads, h // heads, dropout=config.attention_probs_dropout_prob)
        self.layerNorm2 = nn.LayerNorm(h, eps=config.layer_norm_eps)
        self.feedForward = GPT2FeedForward(h, config.ffn_size, config.hidden_act)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(
        self, x: Tensor, bias: Tensor | None, is_causal: bool, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One block; returns the output and this layer's new ``(key, value)``."""
        attn, kv = self.multiHeadAttention(self.layerNorm1(x), bias=bias, is_causal=is_causal, past=past)
        x = x + self.dropout(attn)
        x = x + self.dropout(self.feedForward(self.layerNorm2(x)))
        return x, kv


class GPT2Embeddings(nn.Module):
    """Token plus absolute position embeddings (no LayerNorm: GPT-2 normalises inside each block)."""

    def __init__(self, config: GPT2Config) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.position_embeddings = nn.Embedding(config.max_position, config.hidden_size)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, token_ids: Tensor, position_ids: Tensor) -> Tensor:
        """Sum of the two lookups."""
        return self.dropout(self.word_embeddings(token_ids) + self.position_embeddings(position_ids))


class GPT2(DecoderBase):
    """GPT-2 language model returning logits over the vocabulary (``model='gpt2'``).

    Args:
        config: A :class:`GPT2Config`, or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = GPT2Config
    prefix: ClassVar[str] = "transformer"
    hf_model_type: ClassVar[str | None] = "gpt2"
    hf_architecture: ClassVar[str | None] = "GPT2LMHeadModel"

    def __init__(self, config: GPT2Config | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.final_activation = config.final_activation
        self.weight_map = GPT2_WEIGHT_MAP
        self.embeddings = GPT2Embeddings(config)
        self.encoderLayer = nn.ModuleList(GPT2Layer(config) for _ in range(config.num_hidden_layers))
        self.LayerNormFinal = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dense = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.dense.weight = self.embeddings.word_embeddings.weight

    def tied_weights(self) -> dict[str, str]:
        """Parameter names that share storage with another one: ``{alias: owner}``."""
        return {"dense.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def convert_checkpoint_tensors(self, items: Iterable[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
        """Loader hook: HF Conv1D/fused-qkv layout -> the keys of :data:`GPT2_WEIGHT_MAP`."""
        return gpt2_split_c_attn(items)

    def restore_checkpoint_tensors(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        """Saving hook: back to HF's fused ``c_attn`` and Conv1D layout."""
        return gpt2_merge_c_attn(state)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.GPT2LMHeadModel``."""
        c = self.config
        return {
            "vocab_size": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers,
            "n_head": c.num_attention_heads, "n_inner": c.intermediate_size, "activation_function": c.hidden_act,
            "n_positions": c.max_position, "layer_norm_epsilon": c.layer_norm_eps, "resid_pdrop": c.dropout_rate,
            "embd_pdrop": c.dropout_rate, "attn_pdrop": c.attention_probs_dropout_prob,
            "tie_word_embeddings": c.tie_word_embeddings, "pad_token_id": c.token_pad_ids,
        }

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]``.

        Args:
            inputs: ``[token_ids]``, ``[batch, len]``; the list, or its items unpacked (``model(token_ids)``).
            attention_mask: Optional ``[batch, len]`` 1/0 mask of real tokens for this call (left padding);
                by default padding is ``token_pad_ids`` (None for GPT-2: no padding).
            past_key_values: Cache from a previous call (layout in ``_cache.py``).
            use_cache: Also return the new cache.

        Returns:
            Logits ``[batch, len, vocab]`` (or probabilities), and the new cache when ``use_cache``.
        """
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        dtype = self.embeddings.word_embeddings.weight.dtype
        step = decoder_inputs(
            token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask, past=past_key_values,
            dtype=dtype,
        )
        x = self.embeddings(token_ids, step.position_ids)
        x, new_kv = run_decoder_layers(self.encoderLayer, x, past_key_values, step.bias, step.is_causal)
        logits = output_activation(self.dense(self.LayerNormFinal(x)), self.final_activation)
        return decoder_outputs(logits, new_kv, step, use_cache)


# HF GPT2LMHeadModel checkpoint key (after gpt2_split_c_attn) -> our parameter name.
GPT2_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.wte.weight": "embeddings.word_embeddings.weight",
    "transformer.wpe.weight": "embeddings.position_embeddings.weight",
    "transformer.h.{}.ln_1.weight": "encoderLayer.{}.layerNorm1.weight",
    "transformer.h.{}.ln_1.bias": "encoderLayer.{}.layerNorm1.bias",
    "transformer.h.{}.attn.q.weight": "encoderLayer.{}.multiHeadAttention.q.weight",
    "transformer.h.{}.attn.q.bias": "encoderLayer.{}.multiHeadAttention.q.bias",
    "transformer.h.{}.attn.k.weight": "encoderLayer.{}.multiHeadAttention.k.weight",
    "transformer.h.{}.attn.k.bias": "encoderLayer.{}.multiHeadAttention.k.bias",
    "transformer.h.{}.attn.v.weight": "encoderLayer.{}.multiHeadAttention.v.weight",
    "transformer.h.{}.attn.v.bias": "encoderLayer.{}.multiHeadAttention.v.bias",
    "transformer.h.{}.attn.c_proj.weight": "encoderLayer.{}.multiHeadAttention.o.weight",
    "transformer.h.{}.attn.c_proj.bias": "encoderLayer.{}.multiHeadAttention.o.bias",
    "transformer.h.{}.ln_2.weight": "encoderLayer.{}.layerNorm2.weight",
    "transformer.h.{}.ln_2.bias": "encoderLayer.{}.layerNorm2.bias",
    "transformer.h.{}.mlp.c_fc.weight": "encoderLayer.{}.feedForward.intermediateDense.weight",
    "transformer.h.{}.mlp.c_fc.bias": "encoderLayer.{}.feedForward.intermediateDense.bias",
    "transformer.h.{}.mlp.c_proj.weight": "encoderLayer.{}.feedForward.outputDense.weight",
    "transformer.h.{}.mlp.c_proj.bias": "encoderLayer.{}.feedForward.outputDense.bias",
    "transformer.ln_f.weight": "LayerNormFinal.weight",
    "transformer.ln_f.bias": "LayerNormFinal.bias",
    "lm_head.weight": "dense.weight",
    # old checkpoints carry the causal-mask buffers; they are not weights
    "transformer.h.{}.attn.bias": None,
    "transformer.h.{}.attn.masked_bias": None,
}

# Conv1D weights are stored [in, out]; nn.Linear wants [out, in].
_CONV1D_SUFFIXES = ("attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt2_split_c_attn(items: Iterable[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
    """HF GPT-2 layout -> the layout :data:`GPT2_WEIGHT_MAP` reads: split ``c_attn`` into q/k/v, transpose Conv1D.

    Only HF keys are touched (a ``c_attn``/``c_fc``/``c_proj`` suffix), so a file saved with our own parameter names
    passes through unchanged.

    Args:
        items: ``(checkpoint key, tensor)`` pairs, e.g. ``state_dict.items()``.

    Yields:
        ``...attn.c_attn.{weight,bias}`` as ``...attn.{q,k,v}.{weight,bias}`` in ``nn.Linear`` layout, Conv1D weights
        transposed, everything else as it is.
    """
    for key, value in items:
        if key.endswith("attn.c_attn.weight"):
            stem = key[: -len("c_attn.weight")]
            for name, part in zip("qkv", value.t().chunk(3, dim=0)):
                yield f"{stem}{name}.weight", part.contiguous()
        elif key.endswith("attn.c_attn.bias"):
            stem = key[: -len("c_attn.bias")]
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                yield f"{stem}{name}.bias", part.contiguous()
        elif key.endswith(_CONV1D_SUFFIXES):
            yield key, value.t().contiguous()
        else:
            yield key, value


def gpt2_merge_c_attn(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`gpt2_split_c_attn` (for saving an HF-loadable checkpoint)."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith(("attn.q.weight", "attn.q.bias")):
            stem, kind = key.rsplit(".", 2)[0], key.rsplit(".", 1)[1]
            parts = [state_dict[f"{stem}.{n}.{kind}"] for n in "qkv"]
            fused = torch.cat(parts, dim=0)
            out[f"{stem}.c_attn.{kind}"] = fused.t().contiguous() if kind == "weight" else fused
        elif key.endswith(("attn.k.weight", "attn.k.bias", "attn.v.weight", "attn.v.bias")):
            continue
        elif key.endswith(_CONV1D_SUFFIXES):
            out[key] = value.t().contiguous()
        else:
            out[key] = value
    return out
