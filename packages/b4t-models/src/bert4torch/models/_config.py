"""The one config parser of every family: typed, frozen dataclasses that accept an HF ``config.json`` as is and the
original bert4torch config style.

Every family's config subclasses :class:`ModelConfig` (``@dataclass(frozen=True, kw_only=True)``).
:meth:`ModelConfig.from_dict` reads a file's dict and the keyword options of ``build_transformer_model``:

1. each source is rewritten by the family's ``preprocess`` (value-dependent HF keys such as ``feed_forward_proj``);
2. a key is a field, or an alias of one (``aliases``, merged along the MRO: ``max_position_embeddings ->
   max_position``, ``n_embd -> hidden_size``...). Within one source the field's own name beats an alias (an HF
   ``config.json`` read with bert4torch-style options); the keyword options win over the file;
3. a ``checked`` key is accepted only with a value we implement (``position_embedding_type='absolute'``...); a
   file's checked keys are checked even where a keyword option of the same name exists (``is_decoder``);
4. HF bookkeeping keys (:data:`HF_IGNORED`, plus a family's ``ignored``) are dropped;
5. anything else is the source's concern: a key of the *file* that no family reads is ignored (a debug log; the
   names are kept on ``config.ignored_keys``), as the original ignored them; a keyword option the user *typed* raises
   :class:`ConfigError` naming the closest valid option (there is no ``**kwargs`` sink);
6. every value is checked against the field's annotation and range (``_config_values``): a wrong type, a count
   below its minimum or a null where a number is required raises :class:`ConfigError` naming the key.

Options accepted for compatibility that change nothing (``inert``) warn once when given another value.
Validation that needs several fields lives in ``__post_init__``.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from bert4torch.activations import ACT2FN

from ._config_values import check_values

__all__ = ["ConfigError", "DecoderConfig", "EncoderConfig", "HF_IGNORED", "ModelConfig", "VocabularyOptions",
           "close_name", "closest", "read_config_file"]


class ConfigError(ValueError):
    """An unknown or invalid option; the message names the closest valid one."""


# Keys of a config.json that describe bookkeeping, training-time or generation defaults, not the network's arithmetic.
HF_IGNORED: frozenset[str] = frozenset(
    {
        "architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "_name_or_path", "name_or_path",
        "pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id", "cls_token_id", "decoder_start_token_id",
        "use_cache", "classifier_dropout", "classifier_dropout_prob", "gradient_checkpointing", "output_past",
        "id2label", "label2id", "num_labels", "problem_type", "tokenizer_class", "output_hidden_states",
        "output_attentions", "return_dict", "directionality", "pooler_fc_size", "pooler_num_attention_heads",
        "pooler_num_fc_layers", "pooler_size_per_head", "pooler_type", "chunk_size_feed_forward", "finetuning_task",
        "prefix", "task_specific_params", "torchscript", "use_bfloat16", "pruned_heads", "tf_legacy_loss",
        "is_encoder_decoder", "cross_attention_hidden_size", "tie_encoder_decoder", "bad_words_ids", "max_length",
        "min_length", "num_beams", "do_sample", "temperature", "top_k", "top_p", "early_stopping", "length_penalty",
        "no_repeat_ngram_size", "repetition_penalty", "num_return_sequences", "return_dict_in_generate",
        "output_scores", "diversity_penalty", "num_beam_groups", "forced_bos_token_id", "forced_eos_token_id",
        "remove_invalid_values", "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens",
        "encoder_no_repeat_ngram_size", "typical_p", "sentence_transformers", "initializer_factor",
        "layer_norm_epsilon_unused", "model", "gradient_checkpointing_kwargs", "_attn_implementation",
        "attn_implementation", "_commit_hash", "vocab_file", "is_decoder", "add_cross_attention",
        "keys_to_ignore_at_inference", "layerdrop", "encoder_layerdrop", "decoder_layerdrop", "summary_type",
        "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
        "summary_last_dropout", "pretraining_tp", "use_mems_eval", "use_mems_train", "start_n_top", "end_n_top",
        "activation_dropout", "attention_dropout", "max_window_layers", "n_ctx",
    }
)
_WARNED: set[tuple[str, str]] = set()
logger = logging.getLogger("bert4torch.models")


def closest(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name``, or None: the one did-you-mean helper of ``bert4torch.models``."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return close[0] if close else None


def close_name(name: str, valid: Iterable[str]) -> str:
    """A "did you mean ..." hint, or the valid options when none is close."""
    valid = sorted(valid)
    close = closest(name, valid, cutoff=0.5)
    return f"did you mean {close!r}?" if close else f"valid options: {', '.join(valid)}"


def read_config_file(config_path: str | os.PathLike) -> dict[str, Any]:
    """Read a json config (a folder means its ``bert4torch_config.json`` / ``config.json``)."""
    path = os.fspath(config_path)
    if os.path.isdir(path):
        for name in ("bert4torch_config.json", "config.json"):
            if os.path.exists(os.path.join(path, name)):
                path = os.path.join(path, name)
                break
        else:
            raise ConfigError(f"no config.json in folder {path}")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"config {path} is not a json object")
    return data


def _misspelt(missing: list[str], aliases: Mapping[str, str], unknown: list[str]) -> str:
    """A hint naming the ignored file keys that look like a missing option (``'hiden_size'`` for ``hidden_size``)."""
    hints = []
    for name in missing:
        spellings = [name, *(alias for alias, target in aliases.items() if target == name)]
        close = next((key for key in unknown if closest(key, spellings)), None)
        if close:
            hints.append(f"the config file's {close!r} looks like {name!r}")
    return f" ({'; '.join(hints)})" if hints else ""


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """What every family's config has, and the one ``from_dict``."""

    initializer_range: float = 0.02  # std of the normal init of weights that no checkpoint provides
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning
    ignored_keys: tuple[str, ...] = field(default=(), compare=False)  # config-file keys no option of this family reads

    aliases: ClassVar[dict[str, str]] = {}  # other spelling -> field name
    checked: ClassVar[dict[str, tuple]] = {}  # keys accepted only with one of these values: {key: allowed}
    ignored: ClassVar[frozenset[str]] = frozenset()  # family keys that do not change the network
    inert: ClassVar[dict[str, Any]] = {}  # options accepted for compatibility that change nothing: {key: default}

    @classmethod
    def _merged(cls, attr: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            value = klass.__dict__.get(attr)
            if isinstance(value, (frozenset, set)):
                out.update(dict.fromkeys(value))
            elif isinstance(value, dict):
                out.update(value)
        return out

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Family hook: rewrite one source's value-dependent keys before they are read (default: unchanged)."""
        return data

    @classmethod
    def _read(cls, source: Mapping[str, Any], names: set[str], aliases: dict[str, str], *, typed: bool
              ) -> tuple[dict[str, Any], list[str]]:
        """One source's values by field name, and its unknown keys (steps 2 to 5 of the module docstring).

        Args:
            typed: the keyword options the user typed (an unknown key raises); False for a config file's keys
                (an unknown key is returned, to be ignored).
        """
        checked, inert = cls._merged("checked"), cls._merged("inert")
        skip = HF_IGNORED | set(cls._merged("ignored"))
        own: dict[str, Any] = {}
        aliased: dict[str, Any] = {}
        unknown: list[str] = []
        for key, value in cls.preprocess(dict(source)).items():
            if key in inert and value != inert[key] and (cls.__name__, key) not in _WARNED:
                _WARNED.add((cls.__name__, key))
                warnings.warn(f"{cls.__name__}: {key}={value!r} is accepted for compatibility and changes nothing",
                              UserWarning, stacklevel=4)
            if key in checked and (not typed or key not in names):
                if value not in checked[key]:
                    raise ConfigError(f"{cls.__name__}: {key}={value!r} is not supported (supported: {checked[key]})")
            elif key in names:
                own[key] = value
            elif key in aliases:
                aliased[aliases[key]] = value
            elif key in skip or key in inert:
                continue
            elif typed:
                raise ConfigError(f"unknown option {key!r} for {cls.__name__}; {close_name(key, names | set(aliases))}")
            else:
                unknown.append(key)
        return {**aliased, **own}, unknown

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, overrides: Mapping[str, Any] | None = None) -> ModelConfig:
        """Build the config from a json dict (a config file's keys) plus keyword ``overrides`` (which win).

        Keys of ``data`` that no option reads are ignored (debug log, ``config.ignored_keys``); unknown keys of
        ``overrides`` raise.

        Raises:
            ConfigError: an unknown keyword option (with the closest valid name), a checked key with a value we do
                not implement, a required key that is absent, or a value of the wrong type or range.
        """
        names = {f.name for f in fields(cls)}
        aliases = cls._merged("aliases")
        from_file, unknown = cls._read(data, names, aliases, typed=False)
        typed, _ = cls._read(overrides or {}, names, aliases, typed=True)
        spelled = {aliases[key]: key for source in (data, overrides or {}) for key in source
                   if key in aliases and aliases[key] not in source}
        values = check_values(cls, {**from_file, **typed}, spelled)
        if unknown:
            logger.debug("%s: config key(s) not used by this family, ignored: %s", cls.__name__, ", ".join(unknown))
            values["ignored_keys"] = tuple(dict.fromkeys([*values.get("ignored_keys", ()), *unknown]))
        missing = [f.name for f in fields(cls) if f.name not in values and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{cls.__name__}: required option(s) missing: {', '.join(missing)}"
                              f"{_misspelt(missing, aliases, unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Field values (what ``build_transformer_model`` passes back as keyword options)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **check_values(type(self), changes))

    def _set(self, name: str, value: Any) -> None:
        """Fill a derived default in ``__post_init__`` (the dataclass is frozen)."""
        object.__setattr__(self, name, value)

    def _check_heads(self, width: str, heads: str, head_size: str | None) -> None:
        """The width must split into equal heads unless the head size is given."""
        if (head_size is None or getattr(self, head_size) is None) and getattr(self, width) % getattr(self, heads):
            hint = f"; or pass {head_size}= for another head width" if head_size else ""
            raise ConfigError(f"{type(self).__name__}: {width}={getattr(self, width)} is not a multiple of "
                              f"{heads}={getattr(self, heads)}: change {heads}{hint}")

    def _check_activation(self, *names: str) -> None:
        for name in names:
            value = getattr(self, name)
            if isinstance(value, str) and value.lower() not in ACT2FN:
                raise ConfigError(f"{type(self).__name__}: unknown {name}={value!r}; {close_name(value, ACT2FN)}")


@dataclass(frozen=True, kw_only=True)
class VocabularyOptions:
    """Mixin of the configs whose vocabulary may be cut or extended when loading (encoders, T5, BART): the rows the
    embedding, the LM/MLM head and any logits bias are built with (``_surgery.vocab_rows`` reduces the checkpoint's)."""

    keep_tokens: list[int] | None = None  # keep only these vocabulary rows (simplified vocabularies)
    compound_tokens: list[list[int]] | None = None  # new tokens initialised with the mean of these rows

    @property
    def effective_vocab_size(self) -> int:
        """Vocabulary rows after ``keep_tokens`` and ``compound_tokens`` (``vocab_size`` is the checkpoint's)."""
        n = len(self.keep_tokens) if self.keep_tokens is not None else self.vocab_size  # type: ignore[attr-defined]
        return n + len(self.compound_tokens or [])


@dataclass(frozen=True, kw_only=True)
class EncoderConfig(VocabularyOptions, ModelConfig):
    """Options of every BERT-like encoder (the original's ``BERT_BASE`` + ``BERT`` options)."""

    vocab_size: int  # rows of the word embedding (before keep_tokens/compound_tokens)
    hidden_size: int  # model width
    num_hidden_layers: int  # encoder layers
    num_attention_heads: int  # heads per attention layer
    intermediate_size: int  # FFN inner width
    hidden_act: str = "gelu"  # FFN activation name (bert4torch.activations)
    dropout_rate: float = 0.0  # residual/embedding dropout (HF: hidden_dropout_prob)
    attention_probs_dropout_prob: float = 0.0  # dropout on attention probabilities
    embedding_size: int | None = None  # embedding width; None: hidden_size (ALBERT, ELECTRA use a smaller one)
    attention_head_size: int | None = None  # per-head size; None: hidden_size // heads (need not divide)
    attention_key_size: int | None = None  # per-head q/k size when different (GAU)
    sequence_length: int | None = None  # the original's option; nothing reads it
    residual_attention_scores: bool = False  # the original's option; no family implements it
    keep_hidden_layers: list[int] | None = None  # layers outside the list become Identity
    hierarchical_position: float | bool | None = None  # extend learned positions (alpha, True = 0.4)
    gradient_checkpoint: bool = False  # torch.utils.checkpoint per layer while training
    max_position: int = 512  # rows of the position table (HF: max_position_embeddings)
    segment_vocab_size: int = 2  # segment (token type) rows; 0 = no segment input (HF: type_vocab_size)
    with_pool: bool | str = False  # pooler on [CLS]; True = tanh, or an activation name (with_nsp forces it)
    with_nsp: bool = False  # next-sentence head
    with_mlm: bool | str = False  # MLM head; True = logits, or an activation name such as 'softmax'
    custom_position_ids: bool = False  # position ids are an input (after segment ids)
    custom_attention_mask: bool = False  # the attention mask is an input (after position ids)
    shared_segment_embeddings: bool = False  # segment ids looked up in the word table
    layer_norm_cond: Any = None  # nn.Module giving the conditional LayerNorm input (e.g. nn.Embedding)
    layer_add_embs: Any = None  # nn.Module or list of modules whose outputs are added to the embeddings
    is_dropout: bool = False  # dropout inside the FFN
    token_pad_ids: int = 0  # padding id: the mask is token_ids != token_pad_ids
    tie_emb_prj_weight: bool = True  # tie the MLM decoder to the word embedding (HF: tie_word_embeddings)
    output_all_encoded_layers: bool = False  # return every layer's output (index 0 = embeddings)
    layer_norm_eps: float = 1e-12  # LayerNorm epsilon
    attention_scale: bool = True  # scale scores by 1/sqrt(d)
    conditional_size: int | None = None  # conditional LayerNorm width; default: layer_norm_cond.weight.size(1)
    is_decoder: bool = False  # cross-attention in every layer; inputs end with encoder_hidden, encoder_mask

    aliases: ClassVar[dict[str, str]] = {
        "max_position_embeddings": "max_position",
        "hidden_dropout_prob": "dropout_rate",
        "type_vocab_size": "segment_vocab_size",
        "tie_word_embeddings": "tie_emb_prj_weight",
        "layer_norm_epsilon": "layer_norm_eps",
    }
    checked: ClassVar[dict[str, tuple]] = {
        "position_embedding_type": ("absolute",),
        "is_decoder": (False,),
        "add_cross_attention": (False,),
    }
    inert: ClassVar[dict[str, Any]] = {"sequence_length": None, "residual_attention_scores": False}
    # heads a family does not have (as in the original), and what it offers instead
    absent_heads: ClassVar[tuple[tuple[str, ...], str]] = ((), "")

    def __post_init__(self) -> None:
        heads, instead = self.absent_heads
        if any(getattr(self, head) for head in heads):
            raise ConfigError(f"{type(self).__name__}: {' / '.join(heads)} are not available (as in the original); "
                              f"{instead}")
        self._check_heads("hidden_size", "num_attention_heads", "attention_head_size")
        self._set("embedding_size", self.embedding_size or self.hidden_size)
        self._set("attention_head_size", self.attention_head_size or self.hidden_size // self.num_attention_heads)
        if self.conditional_size is None:
            cond = self.layer_norm_cond
            self._set("conditional_size", cond.weight.size(1) if cond is not None else 0)
        if self.with_nsp and not self.with_pool:
            self._set("with_pool", True)  # the NSP head reads the pooled output
        self._check_activation("hidden_act")


@dataclass(frozen=True, kw_only=True)
class DecoderConfig(ModelConfig):
    """The options the decoder and encoder-decoder families share (original bert4torch names; HF names are aliases
    in each family); families change the defaults and add their own."""

    vocab_size: int  # rows of the token embedding and of the LM head
    hidden_size: int  # model width
    num_hidden_layers: int  # layers (the encoder's, in an encoder-decoder)
    num_attention_heads: int  # heads per attention layer
    intermediate_size: int | None = None  # FFN width; None = 4 * hidden_size
    hidden_act: str = "gelu"  # FFN activation
    max_position: int = 512  # rows of the position table
    layer_norm_eps: float = 1e-5  # LayerNorm epsilon
    dropout_rate: float = 0.0  # residual and embedding dropout (training only)
    attention_probs_dropout_prob: float = 0.0  # dropout on attention probabilities (training only)
    tie_word_embeddings: bool = True  # the LM head shares the token embedding
    token_pad_ids: int | None = None  # id masked out as padding; None = only an explicit attention_mask pads
    final_activation: str = "linear"  # 'linear' returns logits, an activation name ('softmax') applies it

    aliases: ClassVar[dict[str, str]] = {
        "max_position_embeddings": "max_position", "hidden_dropout_prob": "dropout_rate",
        "layer_norm_epsilon": "layer_norm_eps", "pad_token_id": "token_pad_ids",
    }

    def __post_init__(self) -> None:
        self._check_heads("hidden_size", "num_attention_heads",
                          "attention_head_size" if hasattr(self, "attention_head_size") else None)
        self._set("intermediate_size", self.intermediate_size or 4 * self.hidden_size)
        self._check_activation("hidden_act", "final_activation")
