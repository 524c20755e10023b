"""MixUp, BERT-whitening, sentence pooling and DeBERTa's ConvLayer."""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from bert4torch.activations import get_activation

from ._norm import LayerNorm


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)


def get_pool_emb(hidden_state: torch.Tensor | Sequence[torch.Tensor] | None = None, pooler: torch.Tensor | None = None,
                 attention_mask: torch.Tensor | None = None, pool_strategy: str = "cls",
                 custom_layer: int | Sequence[int] | None = None) -> torch.Tensor:
    """Sentence vectors from encoder outputs.

    Args:
        hidden_state: the last layer ``[btz, seq, h]``, or the list of all layers (index 0 = embeddings).
        pooler: the pooled output (``pool_strategy='pooler'``).
        attention_mask: ``[btz, seq]`` 1 for real tokens (needed by the averaging/max strategies).
        pool_strategy: ``'pooler'``, ``'cls'``, ``'last-avg'``/``'mean'``, ``'last-max'``/``'max'``,
            ``'first-last-avg'`` (means of layers 1 and -1), ``'custom'`` (means of ``custom_layer``).
        custom_layer: layer index or indices for ``'custom'``.
    """
    if pool_strategy == "pooler":
        if pooler is None:
            raise ValueError("pool_strategy='pooler' needs the pooler output")
        return pooler
    layers = hidden_state if isinstance(hidden_state, (list, tuple)) else None
    last = layers[-1] if layers is not None else hidden_state
    if pool_strategy == "cls":
        return last[:, 0]
    if attention_mask is None:
        attention_mask = torch.ones(last.shape[:2], dtype=torch.long, device=last.device)
    if pool_strategy in ("last-avg", "mean"):
        return _masked_mean(last, attention_mask)
    if pool_strategy in ("last-max", "max"):
        # padding can never win the max (the original let it, and returned a (values, indices) tuple)
        return last.masked_fill(~attention_mask.bool().unsqueeze(-1), torch.finfo(last.dtype).min).max(dim=1).values
    if pool_strategy == "first-last-avg":
        if layers is None:
            raise ValueError("'first-last-avg' needs all layers (output_all_encoded_layers=True)")
        return (_masked_mean(layers[1], attention_mask) + _masked_mean(layers[-1], attention_mask)) / 2
    if pool_strategy == "custom":
        if layers is None or custom_layer is None:
            raise ValueError("'custom' needs all layers and custom_layer")
        ids = [custom_layer] if isinstance(custom_layer, int) else list(custom_layer)
        return torch.stack([_masked_mean(layers[i], attention_mask) for i in ids]).mean(0)
    raise ValueError(f"unknown pool_strategy {pool_strategy!r}")


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


class BERT_WHITENING:  # noqa: N801 - the original's public name
    """BERT-whitening (Su 2021): ``(x + bias) @ kernel`` makes sentence vectors zero-mean with identity covariance."""

    def __init__(self) -> None:
        self.kernel: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None

    def compute_kernel_bias(self, sentence_vec: torch.Tensor | Sequence[torch.Tensor], n_components: int | None = None) -> None:
        """Fit on ``sentence_vec`` (a tensor ``[n, d]`` or a list of batches); keep ``n_components`` dims if given."""
        vecs = torch.cat(list(sentence_vec), dim=0) if not isinstance(sentence_vec, torch.Tensor) else sentence_vec
        vecs = vecs.double()
        self.bias = -vecs.mean(dim=0, keepdim=True)
        cov = torch.cov(vecs.T)
        u, s, _ = torch.linalg.svd(cov)
        kernel = u @ torch.diag(s.clamp(min=1e-12) ** -0.5)
        self.kernel = kernel[:, :n_components] if n_components else kernel
        self.kernel, self.bias = self.kernel.float(), self.bias.float()

    def save_whiten(self, path: str | os.PathLike) -> None:
        """Save kernel and bias (``torch.save(obj, path)``; the original swapped the arguments)."""
        torch.save({"kernel": self.kernel, "bias": self.bias}, path)

    def load_whiten(self, path: str | os.PathLike) -> None:
        """Load what :meth:`save_whiten` wrote (``weights_only``)."""
        whiten = torch.load(path, map_location="cpu", weights_only=True)
        self.kernel, self.bias = whiten["kernel"], whiten["bias"]

    def transform_and_normalize(self, vecs: torch.Tensor) -> torch.Tensor:
        """Whiten (when fitted) and L2-normalise."""
        if self.kernel is not None and self.bias is not None:
            vecs = (vecs + self.bias.to(vecs)) @ self.kernel.to(vecs)
        return vecs / (vecs**2).sum(dim=1, keepdim=True).clamp(min=1e-24) ** 0.5


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
