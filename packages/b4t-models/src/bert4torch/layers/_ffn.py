"""Position-wise feed-forward block."""

from __future__ import annotations

import torch
from torch import nn

from bert4torch.activations import get_activation


class PositionWiseFeedForward(nn.Module):
    """``outputDense(act(intermediateDense(x)))``, the original's names.

    Args:
        hidden_size: model width.
        intermediate_size: inner width.
        dropout_rate: dropout after the activation when ``is_dropout``.
        hidden_act: activation name (see ``bert4torch.activations``).
        is_dropout: apply dropout inside the block (the original's switch; BERT does not).
        bias: biases on both dense layers.
    """

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        dropout_rate: float = 0.5,
        hidden_act: str = "gelu",
        is_dropout: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.is_dropout = is_dropout
        self.intermediate_act_fn = get_activation(hidden_act)
        self.intermediateDense = nn.Linear(hidden_size, intermediate_size, bias=bias)
        self.outputDense = nn.Linear(intermediate_size, hidden_size, bias=bias)
        if is_dropout:
            self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.intermediate_act_fn(self.intermediateDense(x))
        if self.is_dropout:
            x = self.dropout(x)
        return self.outputDense(x)
