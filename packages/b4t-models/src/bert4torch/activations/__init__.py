"""bert4torch.activations: activation functions by name, as the original's ``ACT2FN`` table.

``get_activation('gelu')`` returns a callable; an unknown name raises ``KeyError`` naming the closest valid one.
``'gelu'`` is the exact (erf) GELU that BERT checkpoints were trained with; ``'gelu_new'`` is the tanh
approximation used by GPT-2.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = [
    "ACT2FN",
    "get_activation",
    "gelu",
    "gelu_new",
    "gelu_fast",
    "quick_gelu",
    "linear_act",
    "mish",
    "swish",
]


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU, ``x * Phi(x)`` (the BERT activation)."""
    return F.gelu(x)


def gelu_new(x: torch.Tensor) -> torch.Tensor:
    """GELU with the tanh approximation (GPT-2, "gelu_new" in HF configs)."""
    return F.gelu(x, approximate="tanh")


def gelu_fast(x: torch.Tensor) -> torch.Tensor:
    """The tanh approximation written with a precomputed constant, as in the original."""
    return 0.5 * x * (1.0 + torch.tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)))


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(1.702 x)`` (CLIP)."""
    return x * torch.sigmoid(1.702 * x)


def linear_act(x: torch.Tensor) -> torch.Tensor:
    """Identity."""
    return x


def mish(x: torch.Tensor) -> torch.Tensor:
    """``x * tanh(softplus(x))``."""
    return F.mish(x)


def swish(x: torch.Tensor) -> torch.Tensor:
    """SiLU / swish, ``x * sigmoid(x)``."""
    return F.silu(x)


def _softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def _gelu_python(x: torch.Tensor) -> torch.Tensor:
    return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))


ACT2FN: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "silu": swish,
    "swish": swish,
    "gelu": gelu,
    "gelu_python": _gelu_python,
    "tanh": torch.tanh,
    "gelu_new": gelu_new,
    "gelu_pytorch_tanh": gelu_new,
    "gelu_fast": gelu_fast,
    "quick_gelu": quick_gelu,
    "mish": mish,
    "linear": linear_act,
    "sigmoid": torch.sigmoid,
    "softmax": _softmax,
}


def get_activation(activation_string: str | Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Return the activation function named ``activation_string`` (a callable is returned unchanged).

    Raises:
        KeyError: for an unknown name; the message names the closest valid ones.
    """
    if callable(activation_string):
        return activation_string
    key = activation_string.lower()
    if key in ACT2FN:
        return ACT2FN[key]
    close = difflib.get_close_matches(key, list(ACT2FN), n=3)
    raise KeyError(f"unknown activation {activation_string!r}; did you mean {close or sorted(ACT2FN)}?")
