"""XLNet (``model='xlnet'``): Transformer-XL relative attention with segment biases, as used for fine-tuning.

Mirrors ``transformers.XLNetLMHeadModel`` in its fine-tuning form: bidirectional attention (``attn_type='bi'``),
no permutation mask, no target mapping, no memory. The relative-attention parameters keep HF's layout
(``q``/``k``/``v``/``o``/``r`` as ``[d_model, n_head, d_head]``, per-layer ``r_w_bias``/``r_r_bias``/``r_s_bias``
and ``seg_embed``), so loading is a rename. The original needed hand-edited configs (``attn_type='bi'``,
``untie_r=True``) and crashed with segment ids otherwise; here those are the defaults, and other values are rejected
rather than half-supported. XLNet is bidirectional, so it takes no KV cache (Transformer-XL-style ``mems`` are not
implemented).

Inputs: ``[token_ids]`` or ``[token_ids, segment_ids]``; padding is ``token_pad_ids`` (XLNet pads with 5) unless
``attention_mask`` is given. Output: LM logits over the vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .transformer import DecoderBase, activation, config_to_dict, output_activation, parse_config

__all__ = ["XLNET", "XLNET_WEIGHT_MAP", "XLNetConfig", "rel_shift_bnij", "relative_sinusoid"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class XLNetConfig:
    """XLNet hyper-parameters (HF ``XLNetConfig`` names; original bert4torch names are aliases)."""

    vocab_size: int  # rows of the token embedding and of the LM head
    d_model: int  # model width
    n_layer: int  # layers
    n_head: int  # heads
    d_inner: int  # FFN width
    d_head: int | None = None  # width of one head; None = d_model // n_head
    ff_activation: str = "gelu"  # FFN activation
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    dropout: float = 0.0  # dropout (training only)
    clamp_len: int = -1  # clamp relative distances beyond this (-1: no clamp)
    token_pad_ids: int | None = 5  # XLNet's <pad> id; masked out as keys
    tie_word_embeddings: bool = True  # LM head shares the token embedding
    final_activation: str = "linear"  # 'linear' returns logits, 'softmax' probabilities
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> XLNetConfig:
        """From an HF ``config.json`` or the original's hand-edited XLNet config; unknown keys raise."""
        return parse_config(
            cls, data, overrides,
            aliases={"hidden_size": "d_model", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                     "intermediate_size": "d_inner", "attention_head_size": "d_head", "hidden_act": "ff_activation",
                     "hidden_dropout_prob": "dropout", "pad_token_id": "token_pad_ids"},
            ignored=frozenset({"mem_len", "reuse_len", "same_length", "summary_type", "summary_use_proj",
                               "summary_activation", "summary_last_dropout", "max_position_embeddings",
                               "attention_probs_dropout_prob", "segment_vocab_size", "type_vocab_size"}),
            # the fine-tuning form: bidirectional attention, untied biases, no bi-directional data pipeline
            required_values={"attn_type": "bi", "untie_r": True, "bi_data": False},
        )

    def to_dict(self) -> dict[str, Any]:
        """Field values (the keyword options ``build_transformer_model`` passes to the model)."""
        return config_to_dict(self)

    @property
    def head_size(self) -> int:
        """Width of one head after applying the default."""
        return self.d_head or self.d_model // self.n_head


def relative_sinusoid(q_len: int, k_len: int, d_model: int, clamp_len: int, device: torch.device) -> Tensor:
    """Transformer-XL's sinusoid of relative distances ``k_len, k_len-1, ..., -q_len+1``: ``[k_len+q_len, d_model]``.

    ``sin`` and ``cos`` are concatenated (not interleaved), as in XLNet.
    """
    freq = torch.arange(0, d_model, 2, dtype=torch.int64, device=device).float()
    inv_freq = 1 / torch.pow(10000, freq / d_model)
    pos = torch.arange(k_len, -q_len, -1, dtype=torch.int64, device=device).float()
    if clamp_len > 0:
        pos = pos.clamp(-clamp_len, clamp_len)
    angles = pos[:, None] * inv_freq
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def rel_shift_bnij(x: Tensor, k_len: int) -> Tensor:
    """Align position scores ``[b, n, q, k+q]`` (one column per distance) to ``[b, n, q, k]`` (one per key).

    The reshape trick of Transformer-XL: viewing the rows shifted by one turns "distance" columns into "key" columns.
    """
    b, n, q, r = x.shape
    x = x.reshape(b, n, r, q)[:, :, 1:, :].reshape(b, n, q, r - 1)
    return x[:, :, :, :k_len]


class XLNetRelativeAttention(nn.Module):
    """Relative multi-head attention with content, position and segment terms; post-LN residual."""

    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        d, n, dh = config.d_model, config.n_head, config.head_size
        for name in ("q", "k", "v", "o", "r"):
            setattr(self, name, nn.Parameter(torch.zeros(d, n, dh)))
        self.r_r_bias = nn.Parameter(torch.zeros(n, dh))
        self.r_s_bias = nn.Parameter(torch.zeros(n, dh))
        self.r_w_bias = nn.Parameter(torch.zeros(n, dh))
        self.seg_embed = nn.Parameter(torch.zeros(2, n, dh))
        self.layer_norm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.scale = 1 / math.sqrt(dh)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor, pos: Tensor, seg_mat: Tensor | None, bias: Tensor | None) -> Tensor:
        """``h`` ``[b, len, d]``; ``pos`` ``[len + len, d]``; ``seg_mat`` ``[b, len, len]`` (1 = other segment)."""
        q = torch.einsum("bih,hnd->bind", h, self.q)
        k = torch.einsum("bjh,hnd->bjnd", h, self.k)
        v = torch.einsum("bjh,hnd->bjnd", h, self.v)
        k_r = torch.einsum("rh,hnd->rnd", pos, self.r)
        ac = torch.einsum("bind,bjnd->bnij", q + self.r_w_bias, k)
        bd = rel_shift_bnij(torch.einsum("bind,rnd->bnir", q + self.r_r_bias, k_r), ac.shape[3])
        score = ac + bd
        if seg_mat is not None:
            ef = torch.einsum("bind,snd->bnis", q + self.r_s_bias, self.seg_embed)  # s: same / other segment
            score = score + torch.where(seg_mat[:, None].bool(), ef[..., 1:2], ef[..., 0:1])
        score = score * self.scale
        if bias is not None:
            score = score + bias
        prob = self.dropout(F.softmax(score, dim=-1))
        out = torch.einsum("bnij,bjnd->bind", prob, v)
        out = torch.einsum("bind,hnd->bih", out, self.o)
        return self.layer_norm(h + self.dropout(out))


class XLNetFeedForward(nn.Module):
    """``LN(x + layer_2(act(layer_1(x))))``."""

    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.layer_1 = nn.Linear(config.d_model, config.d_inner)
        self.layer_2 = nn.Linear(config.d_inner, config.d_model)
        self.act = activation(config.ff_activation)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        """The FFN block."""
        return self.layer_norm(x + self.dropout(self.layer_2(self.dropout(self.act(self.layer_1(x))))))


class XLNetLayer(nn.Module):
    """Relative attention then FFN."""

    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        self.relAttention = XLNetRelativeAttention(config)
        self.feedForward = XLNetFeedForward(config)

    def forward(self, h: Tensor, pos: Tensor, seg_mat: Tensor | None, bias: Tensor | None) -> Tensor:
        """One layer."""
        return self.feedForward(self.relAttention(h, pos, seg_mat, bias))


class _Embeddings(nn.Module):
    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.d_model)

    def forward(self, token_ids: Tensor) -> Tensor:
        return self.word_embeddings(token_ids)


class XLNET(DecoderBase):
    """XLNet with its LM head (``model='xlnet'``): ``[token_ids(, segment_ids)] -> logits``.

    Args:
        config: An :class:`XLNetConfig`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    config_class: ClassVar[type] = XLNetConfig
    prefix: ClassVar[str] = "transformer"
    hf_model_type: ClassVar[str | None] = "xlnet"
    hf_architecture: ClassVar[str | None] = "XLNetLMHeadModel"

    def __init__(self, config: XLNetConfig | None = None, /, **options: Any) -> None:
        super().__init__(config, **options)
        config = self.config
        self.weight_map = XLNET_WEIGHT_MAP
        self.embeddings = _Embeddings(config)
        # used only by XLNet's permutation pre-training (target mapping); kept so checkpoints round-trip
        self.mask_emb = nn.Parameter(torch.zeros(1, 1, config.d_model))
        self.encoderLayer = nn.ModuleList(XLNetLayer(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size)
        self.dropout = nn.Dropout(config.dropout)
        self.tie_weights()

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        return {"lm_head.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

    def layers_in_map(self) -> int:
        """Layer count."""
        return self.config.n_layer

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init plus normal(0, 0.02) for the relative-attention tensors."""
        super().init_model_weights(module)
        if isinstance(module, XLNetRelativeAttention):
            for p in (module.q, module.k, module.v, module.o, module.r, module.r_r_bias, module.r_s_bias,
                      module.r_w_bias, module.seg_embed):
                nn.init.normal_(p, std=0.02)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.XLNetLMHeadModel``."""
        c = self.config
        return {
            "vocab_size": c.vocab_size, "d_model": c.d_model, "n_layer": c.n_layer, "n_head": c.n_head,
            "d_inner": c.d_inner, "d_head": c.head_size, "ff_activation": c.ff_activation,
            "layer_norm_eps": c.layer_norm_eps, "dropout": c.dropout, "clamp_len": c.clamp_len,
            "attn_type": "bi", "bi_data": False, "pad_token_id": c.token_pad_ids,
            "tie_word_embeddings": c.tie_word_embeddings,
        }

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None) -> Tensor:
        """Logits for ``[token_ids]`` or ``[token_ids, segment_ids]`` (``[batch, len]`` each).

        Args:
            inputs: The ids (and optional segment ids).
            attention_mask: Optional ``[batch, len]`` 1/0 mask of real tokens; default: ``token_ids != token_pad_ids``.
        """
        parts = list(inputs[0]) if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) else list(inputs)
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"expected inputs [token_ids] or [token_ids, segment_ids], got a list of {len(parts)}")
        token_ids = parts[0]
        segment_ids = parts[1] if len(parts) == 2 else None
        length = token_ids.shape[1]
        h = self.dropout(self.embeddings(token_ids))
        if attention_mask is not None:
            keep = attention_mask.bool()
        elif self.config.token_pad_ids is not None:
            keep = token_ids != self.config.token_pad_ids
        else:
            keep = None
        bias = None
        if keep is not None and not bool(keep.all()):
            # a padding query may still attend to itself (XLNet's non-target mask), so no row is all masked
            allowed = keep[:, None, None, :] | torch.eye(length, dtype=torch.bool, device=h.device)[None, None]
            bias = torch.where(allowed, 0.0, torch.finfo(h.dtype).min).to(h.dtype)
        seg_mat = None if segment_ids is None else (segment_ids[:, :, None] != segment_ids[:, None, :])
        pos = self.dropout(relative_sinusoid(length, length, self.config.d_model, self.config.clamp_len, h.device))
        pos = pos.to(h.dtype)
        for layer in self.encoderLayer:
            h = layer(h, pos, seg_mat, bias)
        return output_activation(self.lm_head(self.dropout(h)), self.config.final_activation)


_L, _O = "transformer.layer.{}", "encoderLayer.{}"

# HF XLNetLMHeadModel key -> our name (same tensor layouts: a pure rename).
XLNET_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.word_embedding.weight": "embeddings.word_embeddings.weight",
    "transformer.mask_emb": "mask_emb",
    **{f"{_L}.rel_attn.{n}": f"{_O}.relAttention.{n}"
       for n in ("q", "k", "v", "o", "r", "r_r_bias", "r_s_bias", "r_w_bias", "seg_embed",
                 "layer_norm.weight", "layer_norm.bias")},
    **{f"{_L}.ff.{n}": f"{_O}.feedForward.{n}"
       for n in ("layer_norm.weight", "layer_norm.bias", "layer_1.weight", "layer_1.bias", "layer_2.weight",
                 "layer_2.bias")},
    "lm_loss.weight": "lm_head.weight",
    "lm_loss.bias": "lm_head.bias",
}
