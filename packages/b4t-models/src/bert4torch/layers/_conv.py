"""DeBERTa-v2's convolution layer."""

from __future__ import annotations

import torch
from torch import nn

from bert4torch.activations import get_activation

from ._norm import LayerNorm


class ConvLayer(nn.Module):
    """DeBERTa-v2's convolution after the first layer: ``LN(residual + act(conv(x)))`` with padding zeroed."""

    def __init__(self, hidden_size: int, dropout_rate: float = 0.1, layer_norm_eps: float = 1e-12, conv_kernel_size: int = 3,
                 conv_groups: int = 1, conv_act: str = "tanh") -> None:
        super().__init__()
        self.conv = nn.Conv1d(hidden_size, hidden_size, conv_kernel_size, padding=(conv_kernel_size - 1) // 2, groups=conv_groups)
        self.layerNorm = LayerNorm(hidden_size, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout_rate)
        self.conv_act = get_activation(conv_act)

    def forward(self, hidden_states: torch.Tensor, residual_states: torch.Tensor, input_mask: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(hidden_states.transpose(1, 2)).transpose(1, 2)
        if input_mask is not None:
            out = out.masked_fill(~input_mask.bool().unsqueeze(-1), 0)
        out = self.conv_act(self.dropout(out))
        output = self.layerNorm(residual_states + out)
        if input_mask is not None:
            output = output * input_mask.unsqueeze(-1).to(output.dtype)
        return output
