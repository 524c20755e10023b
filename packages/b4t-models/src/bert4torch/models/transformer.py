"""The generic encoder-decoder families of the original: ``model='transformer'`` and ``model='decoder'``.

Post-LN BERT-style encoder and decoder (cross-attention), learned absolute positions, ``src_vocab_size`` /
``tgt_vocab_size``; BART (``bart.py``) is this network with its settings. The decoder machinery every family shares
lives in ``_decoder.py``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import torch
from torch import nn

from bert4torch.layers import POST_NORM

from ._config import ConfigError, DecoderConfig, VocabularyOptions
from ._decoder import (
    DecoderStack,
    EncoderDecoderLM,
    EncoderStack,
    StandaloneDecoder,
    decoder_embeddings,
    decoder_layers,
)
from ._surgery import seq2seq_vocab_rows

__all__ = ["Decoder", "Transformer", "TransformerConfig"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class TransformerConfig(VocabularyOptions, DecoderConfig):
    """Post-LN encoder-decoder with learned absolute positions (the original's ``Transformer``; BART's layout)."""

    num_decoder_layers: int | None = None  # decoder layers; None = num_hidden_layers
    src_vocab_size: int | None = None  # encoder vocabulary; None = vocab_size
    tgt_vocab_size: int | None = None  # decoder vocabulary and LM head rows; None = vocab_size
    position_offset: int = 0  # rows before position 0 in the table (BART keeps 2, a fairseq legacy)
    embedding_layer_norm: bool = True  # LayerNorm after summing the embeddings
    scale_embedding: bool = False  # multiply token embeddings by sqrt(hidden_size)
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    tie_emb_src_tgt_weight: bool = False  # encoder and decoder share the token embedding
    logit_scale: bool = False  # scale the LM head input by hidden_size ** -0.5 (the original's tied-head option)
    final_logits_bias: bool = False  # a bias row added to the logits (BART)
    segment_vocab_size: int = 0  # segment embeddings are not implemented here: only 0 is accepted
    token_pad_ids: int = 0  # encoder padding id; decoder padding comes only from an explicit mask

    aliases: ClassVar[dict[str, str]] = {"tie_emb_prj_weight": "tie_word_embeddings",
                                         "type_vocab_size": "segment_vocab_size"}

    def __post_init__(self) -> None:
        super().__post_init__()
        self._set("num_decoder_layers", self.num_decoder_layers or self.num_hidden_layers)
        if self.segment_vocab_size:
            raise ConfigError(f"{type(self).__name__}: segment_vocab_size > 0 is not supported; pass "
                              "segment_vocab_size=0")
        if (self.keep_tokens is not None or self.compound_tokens) and (self.src_vocab_size or self.tgt_vocab_size):
            raise ConfigError(f"{type(self).__name__}: keep_tokens/compound_tokens change the one shared vocabulary; "
                              "drop src_vocab_size/tgt_vocab_size or cut the vocabularies yourself")

    @property
    def decoder_layers(self) -> int:
        """Decoder depth."""
        return self.num_decoder_layers


def _embeddings(config: TransformerConfig, vocab_size: int | None) -> nn.Module:
    c = config
    return decoder_embeddings(c, vocab_size, layer_norm=c.embedding_layer_norm, position_offset=c.position_offset,
                              word_scale=math.sqrt(c.hidden_size) if c.scale_embedding else 1.0)


class Seq2SeqEncoder(EncoderStack, nn.Module):
    """The encoder stack: ``[token_ids] -> hidden``, ``predict`` gives ``[hidden, attention_mask]`` (positions are
    indices: encoders are right-padded)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = _embeddings(config, config.src_vocab_size or config.effective_vocab_size)
        self.encoderLayer = decoder_layers(config, POST_NORM)
        self.relative_position_bias = self.final_layer_norm = None


class Seq2SeqDecoder(DecoderStack, nn.Module):
    """The decoder stack with its LM head (and BART's ``final_logits_bias``): ``[token_ids, encoder_hidden,
    encoder_mask] -> [hidden, logits]``."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        c = self.config = config
        vocab = c.tgt_vocab_size or c.effective_vocab_size
        self.embeddings = _embeddings(c, vocab)
        self.decoderLayer = decoder_layers(c, POST_NORM, c.num_decoder_layers, cross=True)
        self.lm_head = nn.Linear(c.hidden_size, vocab, bias=False)
        self.final_logits_bias = nn.Parameter(torch.zeros(1, vocab)) if c.final_logits_bias else None
        self.relative_position_bias = self.final_layer_norm = None
        self.head_scale = c.hidden_size**-0.5 if c.logit_scale else 1.0
        self.final_activation = c.final_activation


class Transformer(EncoderDecoderLM, config=TransformerConfig):
    """Generic encoder-decoder (``model='transformer'``): ``[[encoder_ids], [decoder_ids]]`` ->
    ``[encoder_hidden, decoder_hidden, logits]``, with the cache protocol of ``_cache.py`` (with a filled cache pass
    ``[None, [new_ids]]``; the encoder is not run again and the output is ``[decoder_hidden, logits]``). Weights use
    our own names (no public checkpoint format).

    Args:
        config: A :class:`TransformerConfig` (or a subclass such as BART's), or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    def build(self) -> None:
        self.encoder = Seq2SeqEncoder(self.config)
        self.decoder = Seq2SeqDecoder(self.config)

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` of parameters sharing storage."""
        c = self.config
        tied = {}
        owner = "decoder.embeddings.word_embeddings.weight"
        if c.tie_emb_src_tgt_weight:
            tied[owner] = owner = "encoder.embeddings.word_embeddings.weight"
        if c.tie_word_embeddings:
            tied["decoder.lm_head.weight"] = owner
        return tied

    def load_variable(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """``keep_tokens``/``compound_tokens`` on the token embeddings, the LM head and the logits bias (a tensor
        already cut, as ``save_weights`` wrote it, is kept as it is)."""
        return seq2seq_vocab_rows(name, tensor, self.config)

    def expected_new_parameters(self) -> set[str]:
        """The logits bias may be absent from a checkpoint (transformers ignores it when missing): it starts at 0."""
        return {"decoder.final_logits_bias"} if self.config.final_logits_bias else set()

    def init_model_weights(self, module: nn.Module) -> None:
        """The base init, plus a zero logits bias."""
        super().init_model_weights(module)
        if isinstance(module, Seq2SeqDecoder) and module.final_logits_bias is not None:
            if not module.final_logits_bias.is_meta:
                nn.init.zeros_(module.final_logits_bias)

class Decoder(StandaloneDecoder, config=TransformerConfig):
    """The generic decoder alone (``model='decoder'``): ``[token_ids, encoder_hidden, encoder_mask]`` ->
    ``[hidden, logits]``, with the same cache protocol.
    """

    def build(self) -> None:
        self.decoder = Seq2SeqDecoder(self.config)

    def tied_weights(self) -> dict[str, str]:
        """The LM head shares the token embedding when ``tie_word_embeddings``."""
        owner = "decoder.embeddings.word_embeddings.weight"
        return {"decoder.lm_head.weight": owner} if self.config.tie_word_embeddings else {}

    def stack(self) -> DecoderStack:
        return self.decoder
