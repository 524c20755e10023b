"""Transformer-XL (``model='transformer_xl'``): causal relative attention, with the KV cache as its memory.

``transformers`` v5 no longer ships Transformer-XL, so the equations are written here and checked against an
independent implementation (``tools/models_decoder_goldens.py``, which follows the original code's ``rel_shift``
formulation) through golden outputs in ``tests/assets/models/decoder_transformer_xl``::

    x = word[ids] * sqrt(d_model)
    for each layer:  q, k, v = x Wq, x Wk, x Wv ; R = sinusoid(distance) Wr
                     score[i, j] = ((q_i + r_w_bias) . k_j + (q_i + r_r_bias) . R[i - j]) / sqrt(d_head),  j <= i
                     x = LN1(x + softmax(score) v Wo) ;  x = LN2(x + FFN(x))
    logits = x W_head^T + b

Transformer-XL's segment-level recurrence (``mems``) is exactly a cache of past keys and values, so the standard
:class:`~bert4torch.models._cache.KVCache` serves as its memory: step-by-step decoding equals the full forward.
What is implemented is the common configuration (post-LN, ``attn_type='uni'``, plain embeddings, tied or untied
relative biases); adaptive embeddings/softmax (``cutoffs``, ``div_val != 1``), ``same_length`` and ``pre_lnorm``
are rejected with a clear error instead of being silently ignored. Weights use our own parameter names (the
original also loaded only converted files).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._cache import KVCache
from ._config import ConfigError
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

__all__ = ["TransformerXLConfig", "Transformer_XL", "distance_sinusoid"]


def distance_sinusoid(k_len: int, d_model: int, clamp_len: int, device: torch.device) -> Tensor:
    """Row ``r`` is the sinusoid of relative distance ``r`` (``0 <= r < k_len``): ``[k_len, d_model]``, sin then cos."""
    freq = torch.arange(0, d_model, 2, dtype=torch.int64, device=device).float()
    inv_freq = 1 / torch.pow(10000, freq / d_model)
    pos = torch.arange(k_len, device=device).float()
    if clamp_len > 0:
        pos = pos.clamp(max=clamp_len)
    angles = pos[:, None] * inv_freq
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerXLConfig:
    """Transformer-XL hyper-parameters (original bert4torch names; HF ``TransfoXLConfig`` names are aliases)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width (HF d_model)
    num_hidden_layers: int  # layers (HF n_layer)
    num_attention_heads: int  # heads (HF n_head)
    intermediate_size: int  # FFN width (HF d_inner)
    attention_head_size: int | None = None  # width of one head (HF d_head); None = hidden_size // heads
    hidden_act: str = "relu"  # FFN activation
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    dropout_rate: float = 0.0  # dropout (training only)
    clamp_len: int = -1  # clamp relative distances beyond this (-1: no clamp)
    untie_r: bool = True  # per-layer relative biases; False shares one pair across layers (the original's default)
    mem_len: int = 0  # accepted for compatibility: the KV cache keeps every past position
    tie_word_embeddings: bool = True  # LM head shares the token embedding
    token_pad_ids: int | None = None  # id masked out as padding; None = only an explicit attention_mask pads
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> TransformerXLConfig:
        """From the original bert4torch config or an HF ``TransfoXLConfig`` dict; unsupported variants raise."""
        data, over = _drop_plain_adaptive(data), _drop_plain_adaptive(overrides or {})
        return parse_config(
            cls, data, over,
            aliases={"d_model": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
                     "d_inner": "intermediate_size", "d_head": "attention_head_size", "dropout": "dropout_rate",
                     "hidden_dropout_prob": "dropout_rate", "layer_norm_epsilon": "layer_norm_eps",
                     "pad_token_id": "token_pad_ids", "n_token": "vocab_size"},
            ignored=frozenset({"dropatt", "attention_probs_dropout_prob", "max_position_embeddings", "init",
                               "init_range", "proj_init_std", "init_std", "ext_len", "tgt_len", "eval_tgt_len",
                               "sample_softmax", "proj_share_all_but_first", "adaptive", "with_lm",
                               "segment_vocab_size", "type_vocab_size", "tie_projs"}),
            required_values={"attn_type": 0, "same_length": False, "pre_lnorm": False, "div_val": 1},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def head_size(self) -> int:
        """Width of one head after applying the default."""
        return self.attention_head_size or self.hidden_size // self.num_attention_heads


def _drop_plain_adaptive(config: Mapping[str, Any]) -> dict[str, Any]:
    """Accept the adaptive-embedding keys only in their plain form (no cutoffs, d_embed == d_model)."""
    config = dict(config)
    cutoffs = config.pop("cutoffs", None)
    if cutoffs:
        raise ConfigError(f"TransformerXLConfig: adaptive embeddings (cutoffs={cutoffs}) are not supported")
    d_embed = config.pop("d_embed", None)
    width = config.get("hidden_size", config.get("d_model"))
    if d_embed is not None and width is not None and d_embed != width:
        raise ConfigError("TransformerXLConfig: d_embed != d_model (a projected embedding) is not supported")
    if config.get("attn_type") == "uni":
        config["attn_type"] = 0  # the original's two spellings of the causal form
    return config


class RelativeCausalAttention(nn.Module):
    """Transformer-XL attention (content + position terms) over the cached keys/values, post-LN residual."""

    def __init__(self, config: TransformerXLConfig, shared_bias: tuple[nn.Parameter, nn.Parameter] | None) -> None:
        super().__init__()
        d, n, dh = config.hidden_size, config.num_attention_heads, config.head_size
        self.n, self.dh = n, dh
        self.q = nn.Linear(d, n * dh, bias=False)
        self.k = nn.Linear(d, n * dh, bias=False)
        self.v = nn.Linear(d, n * dh, bias=False)
        self.r = nn.Linear(d, n * dh, bias=False)
        self.o = nn.Linear(n * dh, d, bias=False)
        if shared_bias is None:
            self.r_w_bias = nn.Parameter(torch.zeros(n, dh))
            self.r_r_bias = nn.Parameter(torch.zeros(n, dh))
        else:  # untie_r=False: one pair owned by the model, referenced here (not registered twice)
            self._shared = shared_bias
        self.layerNorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.scale = 1 / math.sqrt(dh)
        self.dropout = nn.Dropout(config.dropout_rate)

    def biases(self) -> tuple[Tensor, Tensor]:
        """``(r_w_bias, r_r_bias)``, per layer or shared."""
        if hasattr(self, "_shared"):
            return self._shared
        return self.r_w_bias, self.r_r_bias

    def _heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.n, self.dh).transpose(1, 2)

    def forward(
        self, x: Tensor, pos: Tensor, bias: Tensor | None, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """``x`` ``[b, q, d]`` new tokens; ``pos`` ``[k_len, d]`` sinusoid of distances ``0..k_len-1``."""
        r_w_bias, r_r_bias = self.biases()
        q = self._heads(self.q(x))
        k, v = self._heads(self.k(x)), self._heads(self.v(x))
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        q_len, k_len = q.shape[2], k.shape[2]
        ac = torch.matmul(q + r_w_bias[:, None], k.transpose(-1, -2))
        r = self.r(pos).view(k_len, self.n, self.dh)
        by_distance = torch.einsum("bnid,rnd->bnir", q + r_r_bias[:, None], r)
        # query i sits at absolute position k_len - q_len + i; key j is at distance (that - j), clamped where masked
        distance = torch.arange(k_len - q_len, k_len, device=x.device)[:, None] - torch.arange(k_len, device=x.device)
        index = distance.clamp(min=0).expand(*by_distance.shape[:2], q_len, k_len)
        bd = by_distance.gather(-1, index)
        score = (ac + bd) * self.scale
        if bias is not None:
            score = score + bias
        prob = self.dropout(F.softmax(score, dim=-1))
        out = torch.matmul(prob, v).transpose(1, 2).reshape(x.shape[0], q_len, self.n * self.dh)
        return self.layerNorm(x + self.dropout(self.o(out))), (k, v)


class TransformerXLFeedForward(nn.Module):
    """``LN(x + outputDense(act(intermediateDense(x))))``."""

    def __init__(self, config: TransformerXLConfig) -> None:
        super().__init__()
        self.intermediateDense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.outputDense = nn.Linear(config.intermediate_size, config.hidden_size)
        self.layerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.act = activation(config.hidden_act)
        self.dropout = nn.Dropout(config.dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        """The FFN block."""
        return self.layerNorm(x + self.dropout(self.outputDense(self.dropout(self.act(self.intermediateDense(x))))))


class TransformerXLLayer(nn.Module):
    """Relative causal attention then FFN."""

    def __init__(self, config: TransformerXLConfig, shared_bias: tuple[nn.Parameter, nn.Parameter] | None) -> None:
        super().__init__()
        self.multiHeadAttention = RelativeCausalAttention(config, shared_bias)
        self.feedForward = TransformerXLFeedForward(config)

    def forward(
        self, x: Tensor, pos: Tensor, bias: Tensor | None, past: tuple[Tensor, Tensor] | None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One layer; returns the output and the new ``(key, value)``."""
        x, kv = self.multiHeadAttention(x, pos, bias, past)
        return self.feedForward(x), kv


class _Embeddings(nn.Module):
    def __init__(self, config: TransformerXLConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.scale = math.sqrt(config.hidden_size)

    def forward(self, token_ids: Tensor) -> Tensor:
        return self.word_embeddings(token_ids) * self.scale


class Transformer_XL(DecoderBase):  # noqa: N801 - the original's public name
    """Transformer-XL language model (``model='transformer_xl'``) with the cache protocol of ``_cache.py``.

    Args:
        config: A :class:`TransformerXLConfig`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = TransformerXLConfig

    def __init__(self, config: TransformerXLConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        c = self.config
        self.weight_map = {}  # our own names (the original needed converted files as well)
        self.embeddings = _Embeddings(c)
        shared = None
        if not c.untie_r:
            self.r_w_bias = nn.Parameter(torch.zeros(c.num_attention_heads, c.head_size))
            self.r_r_bias = nn.Parameter(torch.zeros(c.num_attention_heads, c.head_size))
            shared = (self.r_w_bias, self.r_r_bias)
        self.encoderLayer = nn.ModuleList(TransformerXLLayer(c, shared) for _ in range(c.num_hidden_layers))
        self.dense = nn.Linear(c.hidden_size, c.vocab_size)
        self.dropout = nn.Dropout(c.dropout_rate)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        return {"dense.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def tie_weights(self) -> None:
        """Re-point the tied head and, with ``untie_r=False``, every layer's reference to the shared biases."""
        super().tie_weights()
        if not self.config.untie_r:
            for layer in self.encoderLayer:
                layer.multiHeadAttention._shared = (self.r_w_bias, self.r_r_bias)

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init plus normal(0, 0.02) relative biases."""
        super().init_model_weights(module)
        for name in ("r_w_bias", "r_r_bias"):
            p = module._parameters.get(name)
            if p is not None:
                nn.init.normal_(p, std=0.02)

    def forward(
        self,
        *inputs: Any,
        attention_mask: Tensor | None = None,
        past_key_values: KVCache | None = None,
        use_cache: bool = False,
    ) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]``; same cache protocol as ``GPT2.forward``."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        x = self.dropout(self.embeddings(token_ids))
        past = past_key_values if past_key_values is not None and past_key_values.seq_len else None
        step = decoder_inputs(token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask, past=past,
                              dtype=x.dtype)
        k_len = step.key_mask.shape[1]
        bias = step.bias
        if bias is None and token_ids.shape[1] > 1:
            # relative scores are added by hand, so the causal mask must be explicit too
            bias = torch.zeros(1, 1, token_ids.shape[1], k_len, dtype=x.dtype, device=x.device).masked_fill_(
                torch.ones(token_ids.shape[1], k_len, dtype=torch.bool, device=x.device).triu_(
                    k_len - token_ids.shape[1] + 1), torch.finfo(x.dtype).min)
        pos = self.dropout(distance_sinusoid(k_len, self.config.hidden_size, self.config.clamp_len, x.device))
        pos = pos.to(x.dtype)
        x, new_kv = run_decoder_layers(self.encoderLayer, x, past, pos, bias)
        logits = output_activation(self.dense(self.dropout(x)), self.config.final_activation)
        return decoder_outputs(logits, new_kv, step, use_cache)
