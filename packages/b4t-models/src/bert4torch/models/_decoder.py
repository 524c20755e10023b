"""The decoder side every decoder and encoder-decoder family shares: masks and positions of a cached call, the layer
loop, and the three forward passes (decoder-only LM, encoder-decoder, standalone decoder).

Families build their modules (from ``bert4torch.layers``, through :func:`decoder_layer`) under their checkpoint's
names and inherit the forward:

* :class:`CausalLM` (gpt, gpt2, gpt2_ml, llama, qwen2, transformer_xl): ``embeddings -> layers -> final -> head``;
  the class attributes ``layers_name``/``final_name``/``head_name`` name the modules, ``layer_inputs`` adds what the
  layers need besides the mask (RoPE angles, relative positions);
* :class:`EncoderStack` / :class:`DecoderStack`: one stack of an encoder-decoder (t5, bart, transformer), with
  optional T5 position bias, final norm, head scaling and logits bias;
* :class:`EncoderDecoderLM` (``[[encoder_ids], [decoder_ids]]``) and :class:`StandaloneDecoder`
  (``[ids, encoder_hidden, encoder_mask]``).

The cache protocol and layout are ``_cache.py``'s.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bert4torch.layers import (
    BertEmbeddings,
    LayerNorm,
    MultiHeadAttentionLayer,
    PositionWiseFeedForward,
    TransformerLayer,
)

from ._base import ModelBase, output_activation, run_eval, unpack_inputs
from ._cache import KVCache, attention_bias, causal_bias_for, position_ids_from_mask
from ._config import DecoderConfig
from ._input_checks import check_ids, check_positions

__all__ = [
    "CausalLM",
    "DecoderStack",
    "DecoderStep",
    "EncoderDecoderLM",
    "EncoderStack",
    "StandaloneDecoder",
    "decoder_embeddings",
    "decoder_inputs",
    "decoder_layer",
    "decoder_layers",
    "lookup_ids",
    "padding_bias",
    "run_decoder_layers",
]


def decoder_layer(hidden_size: int, heads: int, ffn_size: int, act: str, *, norms: tuple[str | None, ...],
                  eps: float, rms: bool = False, dropout: float = 0.0, head_size: int | None = None,
                  bias: bool = True, cross: bool = False, ffn_dropout: bool = False, gated: str | None = None,
                  **attention: Any) -> TransformerLayer:
    """One Transformer layer of a decoder family, from the layers every family shares.

    Args:
        hidden_size, heads, ffn_size, act: width, query heads, FFN width and activation.
        norms: where the norms are and their names (``bert4torch.layers.POST_NORM``/``PRE_NORM`` or a family's).
        eps: norm epsilon; ``rms`` makes the norms RMSNorm (gain, no bias).
        dropout: residual dropout (and FFN dropout with ``ffn_dropout``).
        head_size: width of one head (None: ``hidden_size // heads``).
        bias: biases on the attention and FFN linears (``attention`` may split them: ``o_bias``...).
        cross: add cross-attention (an encoder-decoder's decoder).
        gated: the name of the gate linear of a gated FFN (T5 v1.1, LLaMA), or None.
        **attention: further :class:`MultiHeadAttentionLayer` options (``num_key_value_heads``, ``scale``,
            ``attention_probs_dropout_prob``, ``o_bias``, ``mlp_bias``...).
    """
    mlp_bias = attention.pop("mlp_bias", bias)
    attn_dropout = attention.pop("attention_probs_dropout_prob", 0.0)

    def attn(is_cross: bool) -> MultiHeadAttentionLayer:
        return MultiHeadAttentionLayer(hidden_size, heads, attn_dropout, bias=bias, attention_head_size=head_size,
                                       cross=is_cross, **attention)

    def norm() -> LayerNorm:
        return LayerNorm(hidden_size, eps, bias=not rms, norm_mode="rmsnorm" if rms else "normal")

    ffn = PositionWiseFeedForward(hidden_size, ffn_size, dropout, act, ffn_dropout, mlp_bias, gated=gated)
    return TransformerLayer(attn(False), ffn, norm, norms=norms, cross_attention=attn(True) if cross else None,
                            dropout_rate=dropout)


def decoder_layers(config: DecoderConfig, norms: tuple[str | None, ...], count: int | None = None,
                   **options: Any) -> nn.ModuleList:
    """``count`` (default ``num_hidden_layers``) :func:`decoder_layer` s of a :class:`DecoderConfig`'s sizes."""
    c = config
    return nn.ModuleList(
        decoder_layer(c.hidden_size, c.num_attention_heads, c.intermediate_size, c.hidden_act, norms=norms,
                      eps=c.layer_norm_eps, dropout=c.dropout_rate,
                      attention_probs_dropout_prob=c.attention_probs_dropout_prob, **options)
        for _ in range(c.num_hidden_layers if count is None else count))


def decoder_embeddings(config: DecoderConfig, vocab_size: int | None = None, **options: Any) -> BertEmbeddings:
    """Token (and learned position) embeddings of a :class:`DecoderConfig`, no LayerNorm unless ``options`` ask."""
    c = config
    options.setdefault("layer_norm", False)
    rows = c.max_position + options.get("position_offset", 0)
    return BertEmbeddings(vocab_size or c.vocab_size, c.hidden_size, c.hidden_size, rows,
                          options.pop("segment_vocab_size", 0), True, c.dropout_rate,
                          layer_norm_eps=c.layer_norm_eps, **options)


@dataclasses.dataclass
class DecoderStep:
    """What a cached decoder call needs besides the token ids (see :func:`decoder_inputs`).

    Attributes:
        position_ids: ``[batch, new_len]`` positions counting only real tokens.
        key_mask: ``[batch, past_len + new_len]`` bool, the new cache's ``key_mask``.
        bias: Additive attention bias ``[batch, 1, new_len, past_len + new_len]`` or None.
        is_causal: Let SDPA apply the causal mask itself (no bias, no past).
    """

    position_ids: Tensor
    key_mask: Tensor
    bias: Tensor | None
    is_causal: bool

    def explicit_bias(self, dtype: torch.dtype) -> Tensor | None:
        """The bias with the causal mask written out (for scores SDPA's ``is_causal`` cannot combine with)."""
        if self.bias is None and self.is_causal:
            q_len, k_len = self.position_ids.shape[1], self.key_mask.shape[1]
            return causal_bias_for(q_len, k_len, dtype, self.key_mask.device)
        return self.bias


def decoder_inputs(token_ids: Tensor, *, pad_id: int | None, attention_mask: Tensor | None, past: KVCache | None,
                   dtype: torch.dtype) -> DecoderStep:
    """Padding mask, position ids and causal attention bias for one (possibly cached) decoder call.

    Args:
        token_ids: ``[batch, new_len]`` ids of this call.
        pad_id: Padding id (``token_pad_ids``); None means padding is given only by ``attention_mask``.
        attention_mask: Optional explicit ``[batch, new_len]`` (1 = real token); wins over ``pad_id``.
        past: The cache before this call, or None.
        dtype: Dtype of the attention scores.
    """
    if attention_mask is not None:
        mask = attention_mask.bool()
    elif pad_id is not None:
        mask = token_ids != pad_id
    else:
        mask = torch.ones_like(token_ids, dtype=torch.bool)
    past = past if past is not None and past.seq_len else None
    key_mask = mask if past is None else torch.cat([past.key_mask, mask], dim=1)
    bias, is_causal = attention_bias(key_mask, token_ids.shape[1], True, dtype)
    return DecoderStep(position_ids_from_mask(mask, past), key_mask, bias, is_causal)


def padding_bias(mask: Tensor, dtype: torch.dtype) -> Tensor | None:
    """``[batch, len]`` bool (True = real) -> additive ``[batch, 1, 1, len]``, or None when nothing is padding."""
    if bool(mask.all()):
        return None
    zero = torch.zeros((), dtype=dtype, device=mask.device)
    return torch.where(mask[:, None, None, :], zero, torch.finfo(dtype).min)


def lookup_ids(token_ids: Tensor, pad_id: int | None) -> Tensor:
    """The ids the embedding reads: a negative padding id (the original's mT5 examples pad with -100) reads row 0, as
    in the original; the padding mask already keeps those positions out."""
    return token_ids.masked_fill(token_ids == pad_id, 0) if pad_id is not None and pad_id < 0 else token_ids


def run_decoder_layers(layers: nn.ModuleList, x: Tensor, past: KVCache | None, **kwargs: Any
                       ) -> tuple[Tensor, tuple[tuple[Tensor, Tensor], ...], tuple[tuple[Tensor, Tensor], ...]]:
    """Run a decoder stack, each layer with its own cached ``(key, value)`` (and cross-attention projection).

    Returns:
        The output and every layer's new self- and cross-attention ``(key, value)`` (``()`` without cross).
    """
    past = past if past is not None and past.seq_len else None
    self_kv, cross_kv = [], []
    for i, layer in enumerate(layers):
        x, skv, ckv = layer(x, past_key_value=None if past is None else past.self_attn[i], use_cache=True,
                            cross_past_key_value=past.cross_attn[i] if past is not None and past.cross_attn else None,
                            **kwargs)
        self_kv.append(skv)
        if ckv is not None:
            cross_kv.append(ckv)
    return x, tuple(self_kv), tuple(cross_kv)


class CausalLM(ModelBase):
    """A decoder-only language model: ``[token_ids] -> logits`` with the cache protocol of ``_cache.py``."""

    layers_name: ClassVar[str] = "decoderLayer"  # the ModuleList of layers
    final_name: ClassVar[str | None] = None  # the module between the layers and the head (final norm), if any
    head_name: ClassVar[str] = "lm_head"  # the LM head (nn.Linear)

    def input_names(self) -> tuple[str, ...]:
        """The list inputs of ``forward``."""
        return ("token_ids",)

    def tied_weights(self) -> dict[str, str]:
        """The head shares the token embedding when ``tie_word_embeddings``."""
        if not self.config.tie_word_embeddings:
            return {}
        return {f"{self.head_name}.weight": "embeddings.word_embeddings.weight"}

    def layer_inputs(self, step: DecoderStep, x: Tensor) -> dict[str, Any]:
        """Keyword inputs of every layer for this call (families add RoPE angles, relative positions)."""
        return {"attention_mask": step.bias, "is_causal": step.is_causal}

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None, past_key_values: KVCache | None = None,
                use_cache: bool = False) -> Tensor | tuple[Tensor, KVCache]:
        """Logits for ``[token_ids]``.

        Args:
            inputs: ``[token_ids]`` (``[batch, len]``; GPT with segments: ``[token_ids, segment_ids]``): the list, or
                its items unpacked (``model(token_ids)``).
            attention_mask: Optional ``[batch, len]`` 1/0 mask of real tokens for this call (left padding); by
                default padding is ``token_pad_ids`` (None: no padding).
            past_key_values: Cache from a previous call (layout in ``_cache.py``).
            use_cache: Also return the new cache.

        Returns:
            Logits ``[batch, len, vocab]`` (or the ``final_activation`` of them), and the new cache with ``use_cache``.
        """
        token_ids, *segments = unpack_inputs(inputs, self.input_names())
        check_ids(self.embeddings, token_ids, *segments, pad_id=self.config.token_pad_ids)
        step = decoder_inputs(token_ids, pad_id=self.config.token_pad_ids, attention_mask=attention_mask,
                              past=past_key_values, dtype=self.embeddings.word_embeddings.weight.dtype)
        check_positions(self.embeddings, step.position_ids, step.key_mask.shape[1])
        x = self.embeddings(token_ids, *segments, position_ids=step.position_ids)
        x, self_kv, _ = run_decoder_layers(self._modules[self.layers_name], x, past_key_values,
                                           **self.layer_inputs(step, x))
        if self.final_name is not None:
            x = self._modules[self.final_name](x)
        logits = output_activation(self._modules[self.head_name](x), self.config.final_activation)
        if not use_cache:
            return logits
        return logits, KVCache(self_attn=self_kv, cross_attn=(), key_mask=step.key_mask)


class EncoderStack:
    """Mixin of an encoder stack module: ``config``, ``embeddings``, ``encoderLayer``, ``relative_position_bias`` (T5)
    or None, ``final_layer_norm`` (T5) or None, ``final_dropout``.

    ``forward([token_ids])`` returns the hidden states; ``predict([token_ids])`` returns ``[hidden, attention_mask]``,
    the inputs the decoder takes after its token ids (``decoder.predict([output_ids] + encoder.predict([ids]))``, the
    original's seq2seq decoding)."""

    def padding_mask(self, token_ids: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        """``[batch, len]`` bool, True for real tokens: ``attention_mask`` (1 = real) if given, else not padding."""
        return attention_mask.bool() if attention_mask is not None else token_ids != self.config.token_pad_ids

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None) -> Tensor:
        """Encode ``[token_ids]``; padding is ``token_pad_ids`` unless ``attention_mask`` (1 = real) is given."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        return self.encode(token_ids, self.padding_mask(token_ids, attention_mask))

    def predict(self, inputs: Any, return_all: int | None = None) -> list[Tensor] | Tensor:
        """``[token_ids] -> [hidden, attention_mask]`` (mask ``[batch, len]``, 1 = real) in eval mode without
        gradients, as the original's encoder returned them; ``return_all`` picks one of the two."""
        (token_ids,) = unpack_inputs(inputs, ("token_ids",))
        mask = self.padding_mask(token_ids)
        outputs = [run_eval(self, lambda: self.encode(token_ids, mask)), mask.long()]
        return outputs if return_all is None else outputs[return_all]

    def encode(self, token_ids: Tensor, mask: Tensor) -> Tensor:
        """Encode ``[batch, len]`` ids (``mask`` True for real tokens; positions are indices: right padding)."""
        check_ids(self.embeddings, token_ids, pad_id=self.config.token_pad_ids)
        x = self.embeddings(lookup_ids(token_ids, self.config.token_pad_ids))
        bias = padding_bias(mask, x.dtype)
        length = token_ids.shape[1]
        position_bias = None if self.relative_position_bias is None else self.relative_position_bias(length, length)
        for layer in self.encoderLayer:
            x = layer(x, bias, position_bias=position_bias)
        return x if self.final_layer_norm is None else self.final_dropout(self.final_layer_norm(x))


class DecoderStack:
    """Mixin of a decoder stack with its LM head: ``config``, ``embeddings``, ``decoderLayer``, ``lm_head``, and (None
    when absent) ``relative_position_bias``, ``final_layer_norm``, ``final_logits_bias``; ``head_scale`` multiplies the
    head's input; ``final_dropout``. Positions count real tokens, so a left-padded row decodes as it would alone.

    ``forward([token_ids, encoder_hidden, encoder_mask]) -> [hidden, logits]``; ``predict`` is the same call in eval
    mode without gradients (the original's ``model.decoder.predict([output_ids] + encoder_output)``)."""

    predict = ModelBase.predict

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None, past_key_values: KVCache | None = None,
                use_cache: bool = False) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Decode ``[token_ids, encoder_hidden, encoder_mask]`` (encoder mask: ``[batch, src_len]``, or the original's
        ``[batch, 1, 1, src_len]``; 1 = real); with a filled cache the last two may be None."""
        token_ids, encoder_hidden, encoder_mask = unpack_inputs(inputs, ("token_ids", "encoder_hidden", "encoder_mask"))
        hidden, logits, cache = self.decode(token_ids, encoder_hidden, encoder_mask, attention_mask, past_key_values)
        return ([hidden, logits], cache) if use_cache else [hidden, logits]

    def decode(self, token_ids: Tensor, encoder_hidden: Tensor | None, encoder_mask: Tensor | None,
               attention_mask: Tensor | None, past: KVCache | None) -> tuple[Tensor, Tensor, KVCache]:
        """Returns ``(hidden, logits, new_cache)``; the decoder's padding comes only from ``attention_mask``."""
        check_ids(self.embeddings, token_ids, pad_id=self.config.token_pad_ids)
        past = past if past is not None and past.seq_len else None
        step = decoder_inputs(token_ids, pad_id=None, attention_mask=attention_mask, past=past,
                              dtype=self.embeddings.word_embeddings.weight.dtype)
        check_positions(self.embeddings, step.position_ids, step.key_mask.shape[1])
        x = self.embeddings(lookup_ids(token_ids, self.config.token_pad_ids), position_ids=step.position_ids)
        if past is not None and past.encoder_mask is not None:
            enc_mask = past.encoder_mask
        elif encoder_mask is not None:  # [batch, src_len], or the original's [batch, 1, 1, src_len]
            enc_mask = encoder_mask.reshape(encoder_mask.shape[0], encoder_mask.shape[-1]).bool()
        elif encoder_hidden is not None:
            enc_mask = torch.ones(encoder_hidden.shape[:2], dtype=torch.bool, device=x.device)
        else:
            raise ValueError("the decoder needs encoder_hidden (or a cache holding its projection)")
        kwargs = {"attention_mask": step.bias, "is_causal": step.is_causal}
        if self.relative_position_bias is not None:
            # SDPA's is_causal cannot be combined with a bias: the causal mask is written out
            kwargs = {"attention_mask": step.explicit_bias(x.dtype), "is_causal": False,
                      "position_bias": self.relative_position_bias(token_ids.shape[1], step.key_mask.shape[1])}
        x, self_kv, cross_kv = run_decoder_layers(
            self.decoderLayer, x, past, encoder_hidden_states=encoder_hidden,
            encoder_attention_mask=padding_bias(enc_mask, x.dtype), **kwargs)
        if self.final_layer_norm is not None:
            x = self.final_dropout(self.final_layer_norm(x))
        logits = self.lm_head(x * self.head_scale if self.head_scale != 1.0 else x)
        if self.final_logits_bias is not None:
            logits = logits + self.final_logits_bias
        cache = KVCache(self_attn=self_kv, cross_attn=cross_kv, key_mask=step.key_mask, encoder_mask=enc_mask)
        return x, output_activation(logits, self.final_activation), cache


class EncoderDecoderLM(ModelBase):
    """An encoder-decoder (``self.encoder``: :class:`EncoderStack`, ``self.decoder``: :class:`DecoderStack`):
    ``model([[encoder_ids], [decoder_ids]]) -> [encoder_hidden, decoder_hidden, logits]``. With a filled cache the
    encoder is not run again: pass ``[None, [new_decoder_ids]]``; the call returns ``[decoder_hidden, logits]``."""

    def forward(self, *inputs: Any, encoder_attention_mask: Tensor | None = None,
                decoder_attention_mask: Tensor | None = None, past_key_values: KVCache | None = None,
                use_cache: bool = False) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Run ``[[encoder inputs], [decoder inputs]]`` (see the class docstring for the cached form)."""
        encoder_inputs, decoder_inputs_ = unpack_inputs(inputs, ("encoder_inputs", "decoder_inputs"))
        encoder_hidden = encoder_mask = None
        if past_key_values is None or not past_key_values.seq_len:
            (enc_ids,) = unpack_inputs(encoder_inputs, ("token_ids",))
            encoder_mask = (encoder_attention_mask.bool() if encoder_attention_mask is not None
                            else enc_ids != self.config.token_pad_ids)
            encoder_hidden = self.encoder.encode(enc_ids, encoder_mask)
        (dec_ids,) = unpack_inputs(decoder_inputs_, ("token_ids",))
        hidden, logits, cache = self.decoder.decode(dec_ids, encoder_hidden, encoder_mask, decoder_attention_mask,
                                                    past_key_values)
        outputs = [t for t in (encoder_hidden, hidden, logits) if t is not None]
        return (outputs, cache) if use_cache else outputs


class StandaloneDecoder(ModelBase):
    """A decoder alone: ``[token_ids, encoder_hidden, encoder_mask] -> [hidden, logits]``; with a filled cache the
    last two may be None (the cross-attention keys/values and mask are cached)."""

    def stack(self) -> DecoderStack:
        """The decoder stack (the model itself, or a submodule)."""
        return self  # type: ignore[return-value]

    def forward(self, *inputs: Any, attention_mask: Tensor | None = None, past_key_values: KVCache | None = None,
                use_cache: bool = False) -> list[Tensor] | tuple[list[Tensor], KVCache]:
        """Decode ``[token_ids, encoder_hidden, encoder_mask]`` (see :meth:`DecoderStack.forward`)."""
        return DecoderStack.forward(self.stack(), *inputs, attention_mask=attention_mask,
                                    past_key_values=past_key_values, use_cache=use_cache)
