"""GAU-alpha (ZhuiyiAI, 2022): RoFormerV2's embeddings and norms with Gated Attention Units instead of attention+FFN.

Each layer is ``x = rms_norm(x + GAU(x))`` (parameter-free RMS norm, no biases, RoPE, ``softmax_plus``).
Checkpoints: the original's converted files use our parameter names (its weight map is the identity), so keys equal
to our parameter names load; the map only names ``mlmDecoder.weight``, which those files hold even for a model built
without the MLM head (then it is unused). No ``transformers`` class: tests check the equations.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bert4torch.layers import GatedAttentionUnit, LayerNorm, RotaryAngles

from ._config import ConfigError, EncoderConfig
from .roformer import RoFormerV2

__all__ = ["GAU_ALPHA_WEIGHT_MAP", "GAU_alpha", "GauAlphaConfig"]


@dataclass(frozen=True, kw_only=True)
class GauAlphaConfig(EncoderConfig):
    """GAU-alpha options."""

    hidden_act: str = "swish"
    attention_key_size: int | None = 128  # size of the shared q/k vector
    normalization: str = "softmax_plus"  # 'softmax' | 'squared_relu' | 'softmax_plus'

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.is_decoder:
            raise ConfigError("GauAlphaConfig: gated attention units have no cross-attention; is_decoder=True is not "
                              "available")


class GauLayer(nn.Module):
    """``rms_norm(x + dropout(GAU(x)))``."""

    def __init__(self, hidden_size: int, attention_key_size: int, intermediate_size: int, attention_probs_dropout_prob: float,
                 hidden_act: str, dropout_rate: float, normalization: str, max_position: int, layer_norm_eps: float,
                 conditional_size: int = 0) -> None:
        super().__init__()
        self.gau = GatedAttentionUnit(hidden_size, attention_key_size, intermediate_size, attention_probs_dropout_prob,
                                      hidden_act, bias=False, normalization=normalization, p_bias="rotary",
                                      max_position=max_position)
        self.dropout1 = nn.Dropout(dropout_rate)
        self.layerNorm1 = LayerNorm(hidden_size, eps=layer_norm_eps, conditional_size=conditional_size, weight=False,
                                    bias=False, norm_mode="rmsnorm")

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                conditional_emb: torch.Tensor | None = None, *, rotary: RotaryAngles | None = None) -> torch.Tensor:
        out = self.gau(hidden_states, attention_mask, rotary=rotary)
        out = hidden_states + self.dropout1(out)
        return self.layerNorm1(out if conditional_emb is None else (out, conditional_emb))


# The original's convert script writes our parameter names, and the MLM decoder whether or not it is built.
GAU_ALPHA_WEIGHT_MAP: dict[str, str | None] = {"mlmDecoder.weight": "mlmDecoder.weight"}


class GAU_alpha(RoFormerV2, config=GauAlphaConfig, weight_map=GAU_ALPHA_WEIGHT_MAP):  # noqa: N801
    """GAU-alpha (``model='gau_alpha'``): outputs ``hidden`` or ``[hidden, mlm_scores]``."""

    def build_layer(self, index: int) -> nn.Module:
        return GauLayer(self.hidden_size, self.attention_key_size, self.intermediate_size, self.attention_probs_dropout_prob,
                        self.hidden_act, self.dropout_rate, self.normalization, self.max_position, self.layer_norm_eps,
                        self.conditional_size)
