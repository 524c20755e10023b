"""MixUp on embeddings, hidden states or encoder outputs."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class MixUp(nn.Module):
    """MixUp on embeddings, hidden states or encoder outputs (``method`` ``'embed'``, ``'hidden'``, ``'encoder'``, None).

    ``encode(model, inputs)`` draws ``lam ~ Beta(alpha, alpha)`` and a batch permutation and returns mixed outputs;
    ``forward(criterion, y_pred, y_true)`` mixes the loss the same way. Only the hidden states are mixed in 'embed' and
    'hidden' (the masks stay each sample's own), and the model's hook is restored after 'hidden'.
    """

    def __init__(self, method: str | None = "encoder", alpha: float = 1.0, layer_mix: int | None = None) -> None:
        super().__init__()
        if method not in (None, "embed", "encoder", "hidden"):
            raise ValueError(f"unknown MixUp method {method!r}")
        self.method = method
        self.alpha = alpha
        self.layer_mix = layer_mix
        self.perm_index: torch.Tensor | None = None
        self.lam = 0.0

    def get_perm(self, inputs: Any) -> Any:
        if isinstance(inputs, torch.Tensor):
            return inputs[self.perm_index]
        return [x[self.perm_index] if isinstance(x, torch.Tensor) else x for x in inputs]

    def mix_up(self, output: Any, output1: Any) -> Any:
        if isinstance(output, torch.Tensor):
            return self.lam * output + (1.0 - self.lam) * output1
        return [self.lam * a + (1.0 - self.lam) * b for a, b in zip(output, output1)]

    def encode(self, model: nn.Module, inputs: Sequence[torch.Tensor]) -> Any:
        batch = inputs[0].shape[0]
        self.lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        self.perm_index = torch.randperm(batch, device=inputs[0].device)
        if self.method is None:
            return model(inputs)
        if self.method == "encoder":
            output = model(inputs)
            return self.mix_up(output, self.get_perm(output))
        if self.method == "embed":
            output = model.apply_embeddings(inputs)
            output[0] = self.mix_up(output[0], output[0][self.perm_index])
            return model.apply_final_layers(model.apply_main_layers(output))
        layer_mix = self.layer_mix if self.layer_mix is not None else random.randint(0, len(model.encoderLayer) - 1)
        original = model.apply_on_layer_end

        def apply_on_layer_end(l_i: int, layer_inputs: list[Any]) -> list[Any]:
            layer_inputs = original(l_i, layer_inputs)
            if l_i == layer_mix:
                layer_inputs[0] = self.mix_up(layer_inputs[0], layer_inputs[0][self.perm_index])
            return layer_inputs

        model.apply_on_layer_end = apply_on_layer_end
        try:
            return model(inputs)
        finally:
            del model.apply_on_layer_end  # back to the class's method

    def forward(self, criterion: Callable[[Any, Any], torch.Tensor], y_pred: Any, y_true: torch.Tensor) -> torch.Tensor:
        y_true1 = y_true[self.perm_index]
        return self.lam * criterion(y_pred, y_true) + (1 - self.lam) * criterion(y_pred, y_true1)
