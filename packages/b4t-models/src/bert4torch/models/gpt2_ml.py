"""GPT2-ML (``model='gpt2_ml'``): the Grover-style GPT-2 of imcaspar/gpt2-ml, with a KV cache.

No ``transformers`` class exists; the equations (those of the original bert4torch ``GPT2_ML`` / bert4keras, where
only the FFN half of each block is normalised, twice) are::

    x = LayerNormEmb(word[ids] + position[pos])
    for each layer:  h = x + Attn(x)                      # causal, no norm before or after
                     x = LayerNorm2(h + FFN(LayerNorm1(h)))
    logits = x @ word^T                                   # tied head, no final norm

``tools/models_decoder_goldens.py`` computes these equations independently (plain tensor code) and stores the
outputs under ``tests/assets/models/decoder_gpt2_ml``; the test compares this module to them. Checkpoints are the
original's convert-script output (``gpt2_ml.encoder.layer.N...``, :data:`GPT2_ML_WEIGHT_MAP`) or our parameter names.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from torch import nn

from ._config import DecoderConfig
from ._decoder import CausalLM, decoder_embeddings, decoder_layers
from .bert import bert_layout_keys

__all__ = ["GPT2_ML", "GPT2MLConfig", "GPT2_ML_WEIGHT_MAP"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPT2MLConfig(DecoderConfig):
    """GPT2-ML hyper-parameters (the original bert4torch config names)."""

    max_position: int = 1024  # rows of the position table
    token_pad_ids: int | None = 0  # padding id (the Chinese BERT vocabulary pads with 0)

    checked: ClassVar[dict[str, tuple]] = {"segment_vocab_size": (0,), "type_vocab_size": (0,)}


# The original's convert script (convert_gpt2__gpt2-ml.py) writes the BERT layout under `gpt2_ml.`: ln_1 as
# attention.output.LayerNorm (our layerNorm1, before the FFN), ln_2 as output.LayerNorm (our layerNorm2).
GPT2_ML_WEIGHT_MAP: dict[str, str | None] = bert_layout_keys("gpt2_ml")


class GPT2_ML(CausalLM, config=GPT2MLConfig, prefix="gpt2_ml", weight_map=GPT2_ML_WEIGHT_MAP):  # noqa: N801
    """GPT2-ML language model returning logits (``model='gpt2_ml'``), with the cache protocol of ``_cache.py``:
    normalised embeddings, layers whose FFN half is normalised before and after, the head tied to the embedding."""

    layers_name, head_name = "encoderLayer", "dense"

    def build(self) -> None:
        c = self.config
        self.embeddings = decoder_embeddings(c, layer_norm=True)
        self.encoderLayer = decoder_layers(c, (None, None, "layerNorm1", "layerNorm2"))
        self.dense = nn.Linear(c.hidden_size, c.vocab_size, bias=False)
