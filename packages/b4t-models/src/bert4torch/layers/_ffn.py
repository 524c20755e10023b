"""The one position-wise feed-forward block: plain or gated, with or without biases."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from bert4torch.activations import get_activation

from ._fused import FUSE_MAX_ROWS, fused_linear


class PositionWiseFeedForward(nn.Module):
    """``outputDense(act(intermediateDense(x)))``, or gated: ``outputDense(act(intermediateDense(x)) * gate(x))``.

    Args:
        hidden_size: model width.
        intermediate_size: inner width.
        dropout_rate: dropout after the activation (and gate) when ``is_dropout``.
        hidden_act: activation name (see ``bert4torch.activations``).
        is_dropout: apply dropout inside the block (BERT does not; T5 and Transformer-XL do).
        bias: biases on the dense layers.
        gated: the attribute name of the gate's linear (GLU variants: T5 v1.1 calls it ``intermediateDense1``,
            LLaMA ``intermediateDense2``, the names their checkpoints are saved under), or None for a plain FFN.
    """

    # the attribute names of the input and output linears (checkpoint names; XLNet keeps HF's)
    linear_names: ClassVar[tuple[str, str]] = ("intermediateDense", "outputDense")

    def __init__(
        self,
        hidden_size: int,
        intermediate_size: int,
        dropout_rate: float = 0.5,
        hidden_act: str = "gelu",
        is_dropout: bool = False,
        bias: bool = True,
        *,
        gated: str | None = None,
    ) -> None:
        super().__init__()
        self.is_dropout = is_dropout
        self.gated = gated
        self.intermediate_act_fn = get_activation(hidden_act)
        first, last = self.linear_names
        setattr(self, first, nn.Linear(hidden_size, intermediate_size, bias=bias))
        if gated:
            setattr(self, gated, nn.Linear(hidden_size, intermediate_size, bias=bias))
        setattr(self, last, nn.Linear(intermediate_size, hidden_size, bias=bias))
        if is_dropout:
            self.dropout = nn.Dropout(dropout_rate)

    def forward(self, x: Tensor) -> Tensor:
        first, last = self._modules[self.linear_names[0]], self._modules[self.linear_names[1]]
        if self.gated is None:
            h = self.intermediate_act_fn(first(x))
        elif not torch.is_grad_enabled() and x.shape[0] * x.shape[1] <= FUSE_MAX_ROWS:
            # decoding steps: the two input projections in one GEMM (see bert4torch.layers.fused_linear)
            h, gate = fused_linear(x, (first, self._modules[self.gated])).chunk(2, dim=-1)
            h = self.intermediate_act_fn(h) * gate
        else:
            h = self.intermediate_act_fn(first(x)) * self._modules[self.gated](x)
        if self.is_dropout:
            h = self.dropout(h)
        return last(h)
