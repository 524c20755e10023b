"""BERT-whitening of sentence vectors."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch


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
