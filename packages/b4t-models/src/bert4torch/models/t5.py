"""T5 / mT5 (``model='t5'``, ``'t5.1.0'``, ``'t5.1.1'``, ``'mt5.1.1'`` and their ``_encoder`` / ``_decoder``
variants): pre-RMSNorm encoder-decoder with bucketed relative position biases, with a KV cache.

Mirrors ``transformers.T5ForConditionalGeneration`` / ``MT5ForConditionalGeneration``. Version ``t5.1.0`` has a
ReLU FFN and an LM head tied to the embedding whose input is scaled by ``d_model ** -0.5``; ``t5.1.1`` (and mT5,
t5_pegasus) has a gated-GELU FFN (``wi_0``/``wi_1``) and no scaling. Attention is unscaled (T5 folds the scale into
its initialisation). The position bias is learned per head in layer 0 of each stack and shared by all its layers;
relative distances are translation invariant, so left padding needs no position shift.

Inputs follow the original: ``model([[encoder_token_ids], [decoder_token_ids]])`` returns
``[encoder_hidden, decoder_hidden, logits]``. With a filled cache the encoder is not run again: pass
``[None, [new_decoder_ids]]`` and the call returns ``[decoder_hidden, logits]`` (None outputs are dropped, as in the
original's output filtering).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

from torch import Tensor, nn

from bert4torch.layers import PRE_NORM, BertEmbeddings, RMSNorm, T5PositionBias

from ._base import ModelBase
from ._config import ConfigError, ModelConfig, VocabularyOptions
from ._decoder import DecoderStack, EncoderDecoderLM, EncoderStack, StandaloneDecoder, decoder_layer
from ._surgery import seq2seq_vocab_rows
from ._weights import module_keys

__all__ = [
    "MT5v11", "MT5v11Config", "MT5v11Decoder", "MT5v11Encoder", "T5", "T5v11", "T5v11Config", "T5v11Decoder",
    "T5v11Encoder", "T5Config", "T5Decoder", "T5Encoder", "T5_GATED_WEIGHT_MAP", "T5_WEIGHT_MAP",
    "t5_decoder_weight_map", "t5_encoder_weight_map", "t5_weight_map",
]

_VERSIONS = ("t5.1.0", "t5.1.1", "mt5.1.1")


@dataclasses.dataclass(frozen=True, kw_only=True)
class T5Config(VocabularyOptions, ModelConfig):
    """T5 hyper-parameters (HF ``T5Config`` names; original bert4torch spellings are aliases)."""

    vocab_size: int  # shared by encoder, decoder and LM head (the checkpoint's, before keep_tokens)
    d_model: int  # model width
    d_kv: int | None = None  # width of one attention head; None = d_model // num_heads
    d_ff: int  # FFN width
    num_layers: int  # encoder layers
    num_heads: int  # attention heads
    num_decoder_layers: int | None = None  # decoder layers; None = num_layers
    relative_attention_num_buckets: int = 32  # position-bias buckets
    relative_attention_max_distance: int = 128  # distance beyond which buckets saturate
    layer_norm_epsilon: float = 1e-6  # RMSNorm epsilon
    dropout_rate: float = 0.0  # dropout (training only)
    is_gated: bool = False  # gated FFN (t5.1.1, mT5): act(wi_0 x) * wi_1 x
    hidden_act: str = "relu"  # FFN activation
    tie_word_embeddings: bool = True  # LM head shares the embedding
    scale_decoder_outputs: bool = True  # scale the LM head input by d_model ** -0.5 (t5.1.0)
    token_pad_ids: int = 0  # encoder padding id (T5 pads with 0; the decoder starts with it, so it is never masked there)
    final_activation: str = "linear"  # 'linear' returns logits, an activation name ('softmax') applies it

    aliases: ClassVar[dict[str, str]] = {
        "hidden_size": "d_model", "intermediate_size": "d_ff", "num_attention_heads": "num_heads",
        "attention_head_size": "d_kv", "num_hidden_layers": "num_layers", "hidden_dropout_prob": "dropout_rate",
        "pad_token_id": "token_pad_ids", "layer_norm_eps": "layer_norm_epsilon",
    }
    # keys of the original bert4torch T5 configs that do not change the network here
    ignored: ClassVar[frozenset[str]] = frozenset({"max_position_embeddings", "max_position",
                                                   "attention_probs_dropout_prob", "type_vocab_size", "is_dropout"})
    checked: ClassVar[dict[str, tuple]] = {"attention_scale": (False,), "segment_vocab_size": (0,)}
    # the version the `model=` name implies ('t5', 't5.1.0': None = read the config; 't5.1.1', 'mt5.1.1' subclasses)
    default_version: ClassVar[str | None] = None

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        return _t5_spellings(data)[0]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None,
                  version: str | None = None) -> T5Config:
        """From an HF ``config.json`` dict or an original bert4torch T5 config.

        Args:
            data: The dict; unknown keys raise.
            overrides: Keyword options of ``build_transformer_model`` (they win).
            version: ``'t5.1.0'``, ``'t5.1.1'`` or ``'mt5.1.1'``; default: the class's, from the ``model=`` name.
                It chooses the FFN, tying and scaling when the config does not say (an original bert4torch config
                never does).
        """
        version = version or cls.default_version
        if version is not None and version not in _VERSIONS:
            raise ConfigError(f"unknown T5 version {version!r}; valid: {_VERSIONS}")
        data, model_type = _t5_spellings(data)
        view = {**data, **_t5_spellings(overrides or {})[0]}
        gated_default = version in ("t5.1.1", "mt5.1.1") or model_type in ("mt5", "umt5")
        data.setdefault("is_gated", view.get("is_gated", gated_default))
        tie = view.get("tie_word_embeddings", not gated_default)
        data.setdefault("tie_word_embeddings", tie)
        if view.get("scale_decoder_outputs") is None:
            # mT5 and t5.1.1 never scale; t5.1.0 scales exactly when the head is tied
            data["scale_decoder_outputs"] = tie and not gated_default
        return super().from_dict(data, overrides=overrides)  # type: ignore[return-value]

    def __post_init__(self) -> None:
        self._check_heads("d_model", "num_heads", "d_kv")
        self._set("d_kv", self.d_kv or self.d_model // self.num_heads)
        self._set("num_decoder_layers", self.num_decoder_layers or self.num_layers)
        self._check_activation("hidden_act", "final_activation")

    @property
    def decoder_layers(self) -> int:
        """Decoder depth."""
        return self.num_decoder_layers


def _t5_spellings(config: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Turn HF's ``feed_forward_proj`` into our two fields and drop what transformers derives from it.

    Returns:
        The rewritten dict and the ``model_type`` it named (mT5 defaults to the gated FFN).
    """
    config = dict(config)
    config.pop("version", None)  # the original wrote model= into the config; the class's version wins
    model_type = config.pop("model_type", None)
    proj = config.pop("feed_forward_proj", None)
    if proj is not None:
        parts = proj.split("-")
        config.setdefault("is_gated", parts[0] == "gated")
        # transformers maps gated-gelu to the tanh GELU for backward compatibility; so do we
        config.setdefault("hidden_act", "gelu_new" if proj == "gated-gelu" else parts[-1])
    for derived in ("dense_act_fn", "is_gated_act"):
        config.pop(derived, None)
    return config, model_type


def _stack(model: nn.Module, config: T5Config, *, decoder: bool) -> None:
    """Build one T5 stack on ``model``: embeddings, the position bias (layer 0's, shared by all), pre-RMSNorm layers
    (unscaled attention: T5 folds 1/sqrt(d) into the initialisation of q), the final norm."""
    c = config
    model.embeddings = BertEmbeddings(c.effective_vocab_size, c.d_model, c.d_model, 0, 0, False, c.dropout_rate,
                                      position_type=None, layer_norm=False)
    model.relative_position_bias = T5PositionBias(c.relative_attention_num_buckets, c.num_heads,
                                                  bidirectional=not decoder,
                                                  max_distance=c.relative_attention_max_distance)
    layers = nn.ModuleList(
        decoder_layer(c.d_model, c.num_heads, c.d_ff, c.hidden_act, norms=PRE_NORM, eps=c.layer_norm_epsilon, rms=True,
                      dropout=c.dropout_rate, head_size=c.d_kv, bias=False, scale=1.0, cross=decoder, ffn_dropout=True,
                      gated="intermediateDense1" if c.is_gated else None)
        for _ in range(c.num_decoder_layers if decoder else c.num_layers))
    setattr(model, "decoderLayer" if decoder else "encoderLayer", layers)
    model.final_layer_norm = RMSNorm(c.d_model, c.layer_norm_epsilon)
    model.final_dropout = nn.Dropout(c.dropout_rate)


class _T5Base(ModelBase, config=T5Config, hf_model_type="t5", hf_architecture="T5ForConditionalGeneration"):
    """What the T5 classes share: config class, HF config, the vocabulary surgery of ``keep_tokens``."""

    def load_variable(self, name: str, tensor: Tensor) -> Tensor:
        """``keep_tokens``/``compound_tokens`` on the shared embedding and the LM head (a tensor already cut, as
        ``save_weights`` wrote it, is kept as it is)."""
        return seq2seq_vocab_rows(name, tensor, self.config)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.T5ForConditionalGeneration`` / ``MT5ForConditionalGeneration``."""
        c = self.config
        act = "gelu" if c.hidden_act == "gelu_new" and c.is_gated else c.hidden_act
        return {
            "vocab_size": c.effective_vocab_size, "d_model": c.d_model, "d_kv": c.d_kv, "d_ff": c.d_ff,
            "num_layers": c.num_layers, "num_decoder_layers": c.num_decoder_layers, "num_heads": c.num_heads,
            "relative_attention_num_buckets": c.relative_attention_num_buckets,
            "relative_attention_max_distance": c.relative_attention_max_distance,
            "layer_norm_epsilon": c.layer_norm_epsilon, "dropout_rate": c.dropout_rate,
            "feed_forward_proj": f"gated-{act}" if c.is_gated else act,
            "tie_word_embeddings": c.tie_word_embeddings, "scale_decoder_outputs": c.scale_decoder_outputs,
            "pad_token_id": c.token_pad_ids, "decoder_start_token_id": c.token_pad_ids, "is_encoder_decoder": True,
        }

class T5Encoder(EncoderStack, _T5Base, hf_architecture="T5EncoderModel"):
    """The T5 encoder stack (``model='t5_encoder'`` etc.): ``[token_ids] -> hidden``; ``predict([token_ids])`` gives
    ``[hidden, attention_mask]`` (see :class:`EncoderStack`)."""

    def build(self) -> None:
        _stack(self, self.config, decoder=False)

    @property
    def weight_map(self) -> dict[str, str | None]:  # type: ignore[override]
        return t5_encoder_weight_map(self.config)


class T5Decoder(DecoderStack, StandaloneDecoder, _T5Base, hf_model_type=None):
    """The T5 decoder stack with its LM head (``model='t5_decoder'`` etc.): ``[token_ids, encoder_hidden,
    encoder_mask] -> [hidden, logits]``. ``transformers`` has no decoder-only T5 class, so ``save_pretrained`` writes
    our own format."""

    def build(self) -> None:
        c = self.config
        _stack(self, c, decoder=True)
        self.lm_head = nn.Linear(c.d_model, c.effective_vocab_size, bias=False)
        self.final_logits_bias = None
        self.head_scale = c.d_model**-0.5 if c.scale_decoder_outputs else 1.0
        self.final_activation = c.final_activation

    @property
    def weight_map(self) -> dict[str, str | None]:  # type: ignore[override]
        return t5_decoder_weight_map(self.config)

    def tied_weights(self) -> dict[str, str]:
        """``{alias: owner}`` of parameters sharing storage."""
        return {"lm_head.weight": "embeddings.word_embeddings.weight"} if self.config.tie_word_embeddings else {}

class T5(EncoderDecoderLM, _T5Base):
    """T5 encoder-decoder: ``model([[encoder_ids], [decoder_ids]]) -> [encoder_hidden, decoder_hidden, logits]``.

    Args:
        config: A :class:`T5Config`, or None to build one from ``options``.
        **options: Config fields or their aliases (validated: an unknown name raises).
    """

    def build(self) -> None:
        self.encoder = T5Encoder(self.config)
        self.decoder = T5Decoder(self.config)

    @property
    def weight_map(self) -> dict[str, str | None]:  # type: ignore[override]
        return t5_weight_map(self.config)

    def tied_weights(self) -> dict[str, str]:
        """One embedding shared by both stacks (as in every T5 checkpoint), and the head when tied."""
        owner = "encoder.embeddings.word_embeddings.weight"
        tied = {"decoder.embeddings.word_embeddings.weight": owner}
        if self.config.tie_word_embeddings:
            tied["decoder.lm_head.weight"] = owner
        return tied


# HF T5ForConditionalGeneration key -> our name. `{}` is the block index; the literal `layer.0`/`layer.1`/`layer.2`
# after it are sub-layer positions, not indices (the shared helper templates only the first number).
def _t5_map(ffn: dict[str, str]) -> dict[str, str | None]:
    """The full map for the FFN input projections ``ffn`` (``{HF name: our name}``)."""
    enc, dec, enc_ours, dec_ours = "encoder.block.{}.layer.", "decoder.block.{}.layer.", "encoder.encoderLayer.{}.", \
        "decoder.decoderLayer.{}."
    blocks = (("0.SelfAttention", "multiHeadAttention"), ("1.EncDecAttention", "crossAttention"))
    attention = {f"{theirs}.{x}": f"{ours}.{x}" for x in "qkvo" for theirs, ours in blocks}
    modules = {
        **{enc + k: enc_ours + v for k, v in attention.items() if k.startswith("0.")},
        **{dec + k: dec_ours + v for k, v in attention.items()},
        **{f"{enc}1.DenseReluDense.{k}": f"{enc_ours}feedForward.{v}" for k, v in {**ffn, "wo": "outputDense"}.items()},
        **{f"{dec}2.DenseReluDense.{k}": f"{dec_ours}feedForward.{v}" for k, v in {**ffn, "wo": "outputDense"}.items()},
        enc + "0.layer_norm": enc_ours + "layerNorm1", enc + "1.layer_norm": enc_ours + "layerNorm2",
        dec + "0.layer_norm": dec_ours + "layerNorm1", dec + "1.layer_norm": dec_ours + "crossLayerNorm",
        dec + "2.layer_norm": dec_ours + "layerNorm2",
        "encoder.final_layer_norm": "encoder.final_layer_norm", "decoder.final_layer_norm": "decoder.final_layer_norm",
        "lm_head": "decoder.lm_head", "shared": "encoder.embeddings.word_embeddings",
        "encoder.embed_tokens": "encoder.embeddings.word_embeddings",
        "decoder.embed_tokens": "decoder.embeddings.word_embeddings",
        enc + "0.SelfAttention.relative_attention_bias": "encoder.relative_position_bias",
        dec + "0.SelfAttention.relative_attention_bias": "decoder.relative_position_bias",
    }
    # transformers documents the last key as unused (cross-attention has no position bias)
    return {**module_keys(modules, ("weight",)), dec + "1.EncDecAttention.relative_attention_bias.weight": None}


# t5.1.0: one ReLU input projection `wi`; t5.1.1 / mT5 / t5_pegasus: gated `wi_0` (activated) and `wi_1` (linear).
T5_WEIGHT_MAP = _t5_map({"wi": "intermediateDense"})
T5_GATED_WEIGHT_MAP = _t5_map({"wi_0": "intermediateDense", "wi_1": "intermediateDense1"})


def t5_weight_map(config: T5Config) -> dict[str, str | None]:
    """The weight map of the full model for ``config`` (gated or not)."""
    return T5_GATED_WEIGHT_MAP if config.is_gated else T5_WEIGHT_MAP


def _sub_map(full: Mapping[str, str | None], prefix: str) -> dict[str, str | None]:
    """The part of a full T5 map that lands under ``prefix`` (for the standalone encoder/decoder)."""
    out: dict[str, str | None] = {}
    for key, target in full.items():
        if target is None:
            if key.startswith(prefix):
                out[key] = None
        elif target.startswith(prefix):
            out[key] = target[len(prefix):]
        elif key == "shared.weight":
            out[key] = "embeddings.word_embeddings.weight"
        else:
            out[key] = None  # the other stack's weights: known, not built here
    return out


def t5_encoder_weight_map(config: T5Config) -> dict[str, str | None]:
    """Weight map of the standalone encoder, derived from the full map (never written twice)."""
    return _sub_map(t5_weight_map(config), "encoder.")


def t5_decoder_weight_map(config: T5Config) -> dict[str, str | None]:
    """Weight map of the standalone decoder, derived from the full map."""
    return _sub_map(t5_weight_map(config), "decoder.")


# --- the `model=` names: one class per version so the name alone chooses the FFN, tying and scaling -----------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class T5v11Config(T5Config):
    """Config of ``model='t5.1.1'`` (gated FFN, untied head, no scaling unless the config says otherwise)."""

    default_version: ClassVar[str | None] = "t5.1.1"


@dataclasses.dataclass(frozen=True, kw_only=True)
class MT5v11Config(T5Config):
    """Config of ``model='mt5.1.1'`` (mT5, t5_pegasus)."""

    default_version: ClassVar[str | None] = "mt5.1.1"


class T5v11(T5, config=T5v11Config):
    """T5 with :class:`T5v11Config`."""

class MT5v11(T5, config=MT5v11Config, hf_model_type="mt5", hf_architecture="MT5ForConditionalGeneration"):
    """T5 with :class:`MT5v11Config` (mT5)."""

class T5v11Encoder(T5Encoder, config=T5v11Config):
    """T5Encoder with :class:`T5v11Config`."""

class MT5v11Encoder(T5Encoder, config=MT5v11Config, hf_model_type="mt5", hf_architecture="MT5EncoderModel"):
    """T5Encoder with :class:`MT5v11Config` (gated, as every mT5)."""

class T5v11Decoder(T5Decoder, config=T5v11Config):
    """T5Decoder with :class:`T5v11Config`."""

class MT5v11Decoder(T5Decoder, config=MT5v11Config):
    """T5Decoder with :class:`MT5v11Config`."""
