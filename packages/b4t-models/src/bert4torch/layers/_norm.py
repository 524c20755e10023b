"""The one LayerNorm of every family: mean-and-variance or root-mean-square, optionally conditional.

``RMSNorm`` is the same layer in ``'rmsnorm'`` mode without a bias (T5, LLaMA, Qwen2, RoFormerV2 with no gain).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def rms_norm(x: Tensor, weight: Tensor | None, eps: float) -> Tensor:
    """``x / sqrt(mean(x^2) + eps)`` (times ``weight``), computed in float32: the mean square overflows in fp16."""
    if x.dtype == torch.float32:  # the common case: skip two no-op casts (they cost dispatch time on decoding steps)
        out = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)
    else:
        x32 = x.float()
        out = (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)
    return out if weight is None else weight * out


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
        norm_mode: ``'normal'`` (mean and variance) or ``'rmsnorm'`` (root mean square only).
        dim_index: the axis normalised (default the last). With another axis, ``hidden_size`` is the shape of the
            gain and bias, broadcast against the input: ``LayerNorm((1, C, 1, 1), dim_index=1)`` normalises a
            ``[B, C, H, W]`` map over its channels.
    """

    _along = False  # instances pickled before ``dim_index`` existed normalise the last axis
    dim_index = -1

    def __init__(
        self,
        hidden_size: int | tuple[int, ...],
        eps: float = 1e-12,
        conditional_size: int | bool = False,
        weight: bool = True,
        bias: bool = True,
        norm_mode: str = "normal",
        dim_index: int = -1,
    ) -> None:
        super().__init__()
        if norm_mode not in ("normal", "rmsnorm"):
            raise ValueError(f"norm_mode must be 'normal' or 'rmsnorm', got {norm_mode!r}")
        shape = tuple(hidden_size) if isinstance(hidden_size, (tuple, list)) else (hidden_size,)
        self.hidden_size = hidden_size
        self.normalized_shape = shape
        self.dim_index = dim_index
        self._along = len(shape) > 1 or dim_index != -1  # not the last axis alone: F.layer_norm cannot do it
        self.eps = eps
        self.norm_mode = norm_mode
        self.weight = nn.Parameter(torch.ones(shape)) if weight else None
        self.bias = nn.Parameter(torch.zeros(shape)) if bias else None
        self.conditional_size = int(conditional_size or 0)
        if self.conditional_size:
            self.dense1 = nn.Linear(self.conditional_size, hidden_size, bias=False)
            self.dense2 = nn.Linear(self.conditional_size, hidden_size, bias=False)
            nn.init.zeros_(self.dense1.weight)
            nn.init.zeros_(self.dense2.weight)

    def _along_axis(self, x: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
        """Normalise along ``dim_index``, the gain and bias broadcast against ``x``."""
        if self.norm_mode == "normal":
            x = x - x.mean(self.dim_index, keepdim=True)
        out = x * torch.rsqrt(x.pow(2).mean(self.dim_index, keepdim=True) + self.eps)
        out = out if weight is None else out * weight
        return out if bias is None else out + bias

    def _normalize(self, x: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
        if self._along:
            return self._along_axis(x, weight, bias)
        if self.norm_mode == "normal":
            return F.layer_norm(x, self.normalized_shape, weight, bias, self.eps)
        out = rms_norm(x, weight, self.eps)
        return out if bias is None else out + bias

    def forward(self, inputs: Tensor | tuple[Tensor, Tensor] | list[Tensor]) -> Tensor:
        """Normalise ``x``, or ``(x, cond)`` for a conditional LayerNorm (``cond``: ``[btz, c]``/``[btz, seq, c]``)."""
        if isinstance(inputs, Tensor):
            if self._along:
                return self._along_axis(inputs, self.weight, self.bias)
            if self.norm_mode == "normal":
                return F.layer_norm(inputs, self.normalized_shape, self.weight, self.bias, self.eps)
            out = rms_norm(inputs, self.weight, self.eps)
            return out if self.bias is None else out + self.bias
        x, cond = inputs[0], inputs[1] if len(inputs) > 1 else None
        if cond is None or not self.conditional_size:
            return self._normalize(x, self.weight, self.bias)
        while cond.dim() < x.dim():
            cond = cond.unsqueeze(1)
        gain = self.dense1(cond) + (self.weight if self.weight is not None else 1.0)
        shift = self.dense2(cond) + (self.bias if self.bias is not None else 0.0)
        return self._normalize(x, None, None) * gain + shift

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, eps={self.eps}, norm_mode={self.norm_mode!r}, conditional_size={self.conditional_size}"


class RMSNorm(LayerNorm):
    """Root-mean-square norm with a gain and no bias (T5, LLaMA, Qwen2): ``LayerNorm`` in ``'rmsnorm'`` mode."""

    def __init__(self, hidden_size: int, eps: float = 1e-6, weight: bool = True) -> None:
        super().__init__(hidden_size, eps, weight=weight, bias=False, norm_mode="rmsnorm")
