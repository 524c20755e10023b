"""NEZHA (Huawei, 2019): BERT with *functional relative positions* and no absolute position embedding.

Attention (per head, d = head size, r_ij a fixed sinusoid vector of the clipped distance ``clip(j - i, ±k)``):

    e_ij = q_i · (k_j + r_ij) / sqrt(d),   z_i = sum_j softmax(e)_ij (v_j + r_ij)

``r`` has no parameters (paper §3.2). Checkpoint layout: BERT's (``bert.*`` as Huawei's PyTorch release, or
``nezha.*`` as transformers 4.x); the stored relative table is dropped because it is recomputed. There is no
``transformers`` class in v5: tests check the equations directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ._config import ConfigError, EncoderConfig
from .bert import BERT, bert_weight_map

__all__ = ["NEZHA", "NEZHA_WEIGHT_MAP", "NezhaConfig"]


@dataclass(frozen=True, kw_only=True)
class NezhaConfig(EncoderConfig):
    """NEZHA options."""

    max_relative_position: int = 64  # clip distance of the relative table (HF: max_relative_position)
    use_relative_position: bool = True  # must stay True: NEZHA has no absolute positions

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.use_relative_position:
            raise ConfigError("NEZHA without relative positions would have no position information at all")


def _nezha_map(prefix: str) -> dict[str, str | list[str] | None]:
    base = {k: v for k, v in bert_weight_map(prefix).items() if "position_embeddings" not in k}
    base[f"{prefix}.encoder.layer.{{}}.attention.self.relative_positions_encoding.positions_encoding"] = None
    base[f"{prefix}.encoder.layer.{{}}.attention.self.distance_embedding.weight"] = None
    return base


NEZHA_WEIGHT_MAP: dict[str, str | list[str] | None] = {**_nezha_map("bert"), **_nezha_map("nezha")}


class NEZHA(BERT, config=NezhaConfig, prefix="bert", weight_map=NEZHA_WEIGHT_MAP, hf_model_type=None):
    """NEZHA (``model='nezha'``)."""

    position_type: ClassVar[str | None] = None

    def layer_kwargs(self) -> dict[str, Any]:
        return {**super().layer_kwargs(), "p_bias": "typical_relative", "max_relative_position": self.max_relative_position}
