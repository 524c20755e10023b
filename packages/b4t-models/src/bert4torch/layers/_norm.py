"""LayerNorm in the three modes the families need: normal, RMS and conditional."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm(nn.Module):
    """The original's LayerNorm: ``'normal'`` or ``'rmsnorm'``, optionally conditional, optionally parameter-free.

    Args:
        hidden_size: size of the last axis.
        eps: the epsilon inside the square root.
        conditional_size: if non-zero, the layer is a *conditional* LayerNorm: ``forward((x, cond))`` adds
            ``dense1(cond)`` to the gain and ``dense2(cond)`` to the bias; both are zero-initialised so a pretrained
            model starts out unchanged.
        weight: whether there is a learned gain (RoFormerV2 has none).
        bias: whether there is a learned bias (RMS norms and RoFormerV2 have none).
        norm_mode: ``'normal'`` (mean and variance) or ``'rmsnorm'`` (root mean square only, as T5/RoFormerV2).
    """

    def __init__(
        self,
        hidden_size: int,
        eps: float = 1e-12,
        conditional_size: int | bool = False,
        weight: bool = True,
        bias: bool = True,
        norm_mode: str = "normal",
    ) -> None:
        super().__init__()
        if norm_mode not in ("normal", "rmsnorm"):
            raise ValueError(f"norm_mode must be 'normal' or 'rmsnorm', got {norm_mode!r}")
        self.hidden_size = hidden_size
        self.eps = eps
        self.norm_mode = norm_mode
        self.weight = nn.Parameter(torch.ones(hidden_size)) if weight else None
        self.bias = nn.Parameter(torch.zeros(hidden_size)) if bias else None
        self.conditional_size = int(conditional_size or 0)
        if self.conditional_size:
            self.dense1 = nn.Linear(self.conditional_size, hidden_size, bias=False)
            self.dense2 = nn.Linear(self.conditional_size, hidden_size, bias=False)
            nn.init.zeros_(self.dense1.weight)
            nn.init.zeros_(self.dense2.weight)

    def forward(self, inputs: torch.Tensor | tuple[torch.Tensor, torch.Tensor] | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(inputs, (tuple, list)):
            x, cond = inputs[0], inputs[1] if len(inputs) > 1 else None
        else:
            x, cond = inputs, None
        if cond is None or not self.conditional_size:
            if self.norm_mode == "normal":
                return F.layer_norm(x, (self.hidden_size,), self.weight, self.bias, self.eps)
            return self._rms(x, self.weight, self.bias)
        # conditional: cond is [btz, cond_size] (one vector per sample) or [btz, seq, cond_size]
        while cond.dim() < x.dim():
            cond = cond.unsqueeze(1)
        gain = self.dense1(cond) + (self.weight if self.weight is not None else 1.0)
        shift = self.dense2(cond) + (self.bias if self.bias is not None else 0.0)
        if self.norm_mode == "normal":
            x = F.layer_norm(x, (self.hidden_size,), None, None, self.eps)
        else:
            x = self._rms(x, None, None)
        return x * gain + shift

    def _rms(self, x: torch.Tensor, weight: torch.Tensor | None, bias: torch.Tensor | None) -> torch.Tensor:
        # computed in fp32 as T5 does: the mean square overflows in fp16
        variance = x.float().pow(2).mean(-1, keepdim=True)
        out = (x.float() * torch.rsqrt(variance + self.eps)).to(x.dtype)
        if weight is not None:
            out = out * weight
        if bias is not None:
            out = out + bias
        return out

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}, norm_mode={self.norm_mode!r}, conditional_size={self.conditional_size}"
