"""XLNet (``model='xlnet'``): Transformer-XL relative attention with segment biases, as used for fine-tuning.

Mirrors ``transformers.XLNetLMHeadModel`` in its fine-tuning form: bidirectional attention (``attn_type='bi'``),
no permutation mask, no target mapping, no memory. The relative-attention parameters keep HF's layout
(``q``/``k``/``v``/``o``/``r`` as ``[d_model, n_head, d_head]``, per-layer ``r_w_bias``/``r_r_bias``/``r_s_bias``
and ``seg_embed``), so loading is a rename. The fine-tuning form (``attn_type='bi'``, ``untie_r=True``) is the
default; other values are rejected rather than half-supported. XLNet is bidirectional, so it takes no KV cache
(Transformer-XL-style ``mems`` are not implemented).

Inputs: ``[token_ids]`` or ``[token_ids, segment_ids]``; padding is ``token_pad_ids`` (XLNet pads with 5) unless
``attention_mask`` is given. Output: the last hidden states ``[batch, len, d_model]``, as the original's
``model='xlnet'`` returned them; ``with_lm=True`` adds the LM head and returns its logits over the vocabulary.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bert4torch.layers import BertEmbeddings, LayerNorm, PositionWiseFeedForward, sinusoid

from ._base import ModelBase, output_activation
from ._config import ModelConfig
from ._input_checks import check_ids
from ._weights import module_keys

__all__ = ["XLNET", "XLNET_WEIGHT_MAP", "XLNetConfig", "rel_shift_bnij"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class XLNetConfig(ModelConfig):
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
    with_lm: bool = False  # the LM head: return logits, not hidden states (an HF XLNetLMHeadModel)
    tie_word_embeddings: bool = True  # LM head shares the token embedding
    final_activation: str = "linear"  # with_lm: 'linear' returns logits, an activation name ('softmax') applies it

    aliases: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
        "intermediate_size": "d_inner", "attention_head_size": "d_head", "hidden_act": "ff_activation",
        "hidden_dropout_prob": "dropout", "pad_token_id": "token_pad_ids",
    }
    # pre-training options (memory, permutation data) and original bert4torch keys nothing here reads
    ignored: ClassVar[frozenset[str]] = frozenset({"mem_len", "reuse_len", "same_length", "max_position_embeddings",
                                                   "attention_probs_dropout_prob", "segment_vocab_size",
                                                   "type_vocab_size"})
    # the fine-tuning form: bidirectional attention, untied biases, no bi-directional data pipeline
    checked: ClassVar[dict[str, tuple]] = {"attn_type": ("bi",), "untie_r": (True,), "bi_data": (False,)}

    def __post_init__(self) -> None:
        self._check_heads("d_model", "n_head", "d_head")
        self._set("d_head", self.d_head or self.d_model // self.n_head)
        self._check_activation("ff_activation", "final_activation")


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
        d, n, dh = config.d_model, config.n_head, config.d_head
        for name in ("q", "k", "v", "o", "r"):
            setattr(self, name, nn.Parameter(torch.zeros(d, n, dh)))
        self.r_r_bias = nn.Parameter(torch.zeros(n, dh))
        self.r_s_bias = nn.Parameter(torch.zeros(n, dh))
        self.r_w_bias = nn.Parameter(torch.zeros(n, dh))
        self.seg_embed = nn.Parameter(torch.zeros(2, n, dh))
        self.layer_norm = LayerNorm(d, eps=config.layer_norm_eps)
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


class XLNetFeedForward(PositionWiseFeedForward):
    """The FFN under HF's names (``layer_1``, ``layer_2``)."""

    linear_names: ClassVar[tuple[str, str]] = ("layer_1", "layer_2")


class XLNetLayer(nn.Module):
    """Relative attention (normalised inside), then the FFN normalised after its residual by
    ``feedForward.layer_norm``."""

    def __init__(self, config: XLNetConfig) -> None:
        super().__init__()
        self.relAttention = XLNetRelativeAttention(config)
        self.feedForward = XLNetFeedForward(config.d_model, config.d_inner, config.dropout, config.ff_activation,
                                            is_dropout=True)
        self.feedForward.layer_norm = LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, h: Tensor, pos: Tensor, seg_mat: Tensor | None, bias: Tensor | None) -> Tensor:
        """One layer."""
        h, ffn = self.relAttention(h, pos, seg_mat, bias), self.feedForward
        return ffn.layer_norm(h + self.dropout(ffn(h)))


# HF XLNetLMHeadModel key -> our name (same tensor layouts: a pure rename).
XLNET_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.word_embedding.weight": "embeddings.word_embeddings.weight",
    "transformer.mask_emb": "mask_emb",
    **{f"transformer.layer.{{}}.rel_attn.{n}": f"encoderLayer.{{}}.relAttention.{n}"
       for n in ("q", "k", "v", "o", "r", "r_r_bias", "r_s_bias", "r_w_bias", "seg_embed")},
    **module_keys({"transformer.layer.{}.rel_attn.layer_norm": "encoderLayer.{}.relAttention.layer_norm",
                   **{f"transformer.layer.{{}}.ff.{n}": f"encoderLayer.{{}}.feedForward.{n}"
                      for n in ("layer_norm", "layer_1", "layer_2")}, "lm_loss": "lm_head"}),
}


class XLNET(ModelBase, config=XLNetConfig, prefix="transformer", weight_map=XLNET_WEIGHT_MAP, hf_model_type="xlnet",
            hf_architecture="XLNetLMHeadModel"):
    """XLNet (``model='xlnet'``): ``[token_ids(, segment_ids)] -> hidden states``, or logits with ``with_lm=True``.

    Args:
        config: An :class:`XLNetConfig`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    def build(self) -> None:
        c = self.config
        self.embeddings = BertEmbeddings(c.vocab_size, c.d_model, c.d_model, 0, 0, False, c.dropout,
                                         position_type=None, layer_norm=False)
        # used only by XLNet's permutation pre-training (target mapping); kept so checkpoints round-trip
        self.mask_emb = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.encoderLayer = nn.ModuleList(XLNetLayer(c) for _ in range(c.n_layer))
        self.lm_head = nn.Linear(c.d_model, c.vocab_size) if c.with_lm else None
        self.dropout = nn.Dropout(c.dropout)
        if not c.with_lm:  # saved without the head, the checkpoint is transformers' bare model
            self.hf_architecture = "XLNetModel"

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        tied = self.config.with_lm and self.config.tie_word_embeddings
        return {"lm_head.weight": "embeddings.word_embeddings.weight"} if tied else {}

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init plus normal(0, initializer_range) for the relative-attention tensors."""
        super().init_model_weights(module)
        if isinstance(module, XLNetRelativeAttention):
            for p in module.parameters(recurse=False):
                if not p.is_meta:
                    nn.init.normal_(p, std=self.config.initializer_range)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.XLNetLMHeadModel``."""
        c = self.config
        return {
            "vocab_size": c.vocab_size, "d_model": c.d_model, "n_layer": c.n_layer, "n_head": c.n_head,
            "d_inner": c.d_inner, "d_head": c.d_head, "ff_activation": c.ff_activation,
            "layer_norm_eps": c.layer_norm_eps, "dropout": c.dropout, "clamp_len": c.clamp_len,
            "attn_type": "bi", "bi_data": False, "pad_token_id": c.token_pad_ids,
            "tie_word_embeddings": c.tie_word_embeddings, "initializer_range": c.initializer_range,
        }

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None) -> Tensor:
        """Hidden states (``with_lm``: logits) for ``[token_ids]`` or ``[token_ids, segment_ids]`` (``[batch, len]``
        each).

        Args:
            inputs: The ids (and optional segment ids).
            attention_mask: Optional ``[batch, len]`` 1/0 mask of real tokens; default: ``token_ids != token_pad_ids``.
        """
        parts = list(inputs[0]) if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)) else list(inputs)
        if not 1 <= len(parts) <= 2:
            raise ValueError(f"expected inputs [token_ids] or [token_ids, segment_ids], got a list of {len(parts)}")
        token_ids, segment_ids = parts[0], (parts[1] if len(parts) == 2 else None)
        check_ids(self.embeddings, token_ids, pad_id=self.config.token_pad_ids)
        length = token_ids.shape[1]
        h = self.embeddings(token_ids)
        keep = attention_mask.bool() if attention_mask is not None else (
            None if self.config.token_pad_ids is None else token_ids != self.config.token_pad_ids)
        bias = None
        if keep is not None and not bool(keep.all()):
            # a padding query may still attend to itself (XLNet's non-target mask), so no row is all masked
            allowed = keep[:, None, None, :] | torch.eye(length, dtype=torch.bool, device=h.device)[None, None]
            bias = torch.where(allowed, 0.0, torch.finfo(h.dtype).min).to(h.dtype)
        seg_mat = None if segment_ids is None else (segment_ids[:, :, None] != segment_ids[:, None, :])
        # Transformer-XL's sinusoid of the relative distances length, length-1, ..., -length+1 (sines, then cosines)
        distances = torch.arange(length, -length, -1, device=h.device)
        if self.config.clamp_len > 0:
            distances = distances.clamp(-self.config.clamp_len, self.config.clamp_len)
        pos = self.dropout(sinusoid(distances, self.config.d_model, interleaved=False).to(h.dtype))
        for layer in self.encoderLayer:
            h = layer(h, pos, seg_mat, bias)
        if self.lm_head is None:
            return h
        return output_activation(self.lm_head(self.dropout(h)), self.config.final_activation)
