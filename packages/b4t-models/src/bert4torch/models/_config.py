"""Typed configs that accept an HF ``config.json`` as is and the original bert4torch config style.

Every family has a ``@dataclass(kw_only=True)`` config (a subclass of :class:`EncoderConfig`). ``from_dict``:

1. maps the explicit aliases (``HF_ALIASES``: ``max_position_embeddings -> max_position``, ``hidden_dropout_prob ->
   dropout_rate``, ``type_vocab_size -> segment_vocab_size``, ...); when both names are given, the
   bert4torch-style name (usually from ``build_transformer_model`` keyword arguments) wins;
2. checks the HF keys we read only to validate (``CHECKED``: ``position_embedding_type`` must be ``'absolute'``,
   ``is_decoder`` must be false...) and drops HF bookkeeping keys (``HF_IGNORED``: ``architectures``,
   ``transformers_version``, ``id2label``...);
3. rejects anything else with :class:`ConfigError` naming the closest valid option (no ``**kwargs`` sink).

A family adds fields by subclassing and extends the alias/ignore tables by class attributes
(``hf_aliases``/``hf_ignored``), which are merged along the MRO.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
from dataclasses import dataclass, fields
from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = ["ConfigError", "EncoderConfig", "HF_IGNORED", "close_name", "read_config_file"]


class ConfigError(ValueError):
    """An unknown or invalid option; the message names the closest valid one."""


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
        "encoder_no_repeat_ngram_size", "typical_p", "chunk_size_feed_forward", "sentence_transformers",
        "initializer_factor", "layer_norm_epsilon_unused", "model", "gradient_checkpointing_kwargs", "_attn_implementation",
        "attn_implementation", "_commit_hash", "vocab_file",
    }
)


def closest(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The valid name closest to ``name``, or None: the one did-you-mean helper of ``bert4torch.models``."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=cutoff)
    return close[0] if close else None


def close_name(name: str, valid: list[str]) -> str:
    """A "did you mean ..." hint, or the valid options when none is close."""
    close = closest(name, valid, cutoff=0.5)
    return f"did you mean {close!r}?" if close else f"valid options: {', '.join(sorted(valid))}"


def read_config_file(config_path: str | os.PathLike) -> dict[str, Any]:
    """Read a json config (a folder means its ``config.json`` / ``bert4torch_config.json``)."""
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


@dataclass(kw_only=True)
class EncoderConfig:
    """Options of every BERT-like encoder (the original's ``BERT_BASE`` + ``BERT`` options)."""

    vocab_size: int  # rows of the word embedding (after keep_tokens/compound_tokens, see effective_vocab_size)
    hidden_size: int  # model width
    num_hidden_layers: int  # encoder layers
    num_attention_heads: int  # heads per attention layer
    intermediate_size: int  # FFN inner width
    hidden_act: str = "gelu"  # FFN activation name (bert4torch.activations)
    dropout_rate: float = 0.0  # residual/embedding dropout (HF: hidden_dropout_prob)
    attention_probs_dropout_prob: float = 0.0  # dropout on attention probabilities
    embedding_size: int | None = None  # embedding width when it differs from hidden_size (ALBERT, ELECTRA)
    attention_head_size: int | None = None  # per-head size; hidden_size need not divide by heads
    attention_key_size: int | None = None  # per-head q/k size when different (GAU)
    initializer_range: float = 0.02  # std of the normal init
    sequence_length: int | None = None  # stored for the original's API, unused
    keep_tokens: list[int] | None = None  # keep only these vocabulary rows (simplified vocabularies)
    compound_tokens: list[list[int]] | None = None  # new tokens initialised with the mean of these rows
    residual_attention_scores: bool = False  # accepted for compatibility; no family uses it
    ignore_invalid_weights: bool = False  # downgrade strict loading errors to a warning
    keep_hidden_layers: list[int] | None = None  # layers outside the list become Identity
    hierarchical_position: float | bool | None = None  # extend learned positions (alpha, True = 0.4)
    gradient_checkpoint: bool = False  # torch.utils.checkpoint per layer while training
    max_position: int = 512  # rows of the position table (HF: max_position_embeddings)
    segment_vocab_size: int = 2  # segment (token type) rows; 0 = no segment input (HF: type_vocab_size)
    with_pool: bool | str = False  # pooler on [CLS]; True = tanh, or an activation name
    with_nsp: bool = False  # next-sentence head (forces with_pool)
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

    hf_aliases: ClassVar[dict[str, str]] = {
        "max_position_embeddings": "max_position",
        "hidden_dropout_prob": "dropout_rate",
        "type_vocab_size": "segment_vocab_size",
        "tie_word_embeddings": "tie_emb_prj_weight",
        "layer_norm_epsilon": "layer_norm_eps",
    }
    # HF keys we accept only with the value we implement: {key: allowed values}
    checked: ClassVar[dict[str, tuple]] = {
        "position_embedding_type": ("absolute",),
        "is_decoder": (False,),
        "add_cross_attention": (False,),
    }
    hf_ignored: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def _merged(cls, attr: str) -> dict:
        out: dict = {}
        for klass in reversed(cls.__mro__):
            value = klass.__dict__.get(attr)
            if isinstance(value, dict):
                out.update(value)
            elif isinstance(value, frozenset):
                out.update(dict.fromkeys(value))
        return out

    @classmethod
    def valid_keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, overrides: dict[str, Any] | None = None) -> EncoderConfig:
        """Build the config from a json dict plus keyword overrides (which win), rejecting unknown keys.

        Raises:
            ConfigError: an unknown key (with the closest valid name), a checked key with a value we do not
                implement, or a required key that is absent.
        """
        data = cls.preprocess(dict(data))
        names = set(cls.valid_keys())
        aliases = cls._merged("hf_aliases")
        checked = cls._merged("checked")
        ignored = HF_IGNORED | set(cls._merged("hf_ignored"))
        result: dict[str, Any] = {}
        explicit: set[str] = set()
        for source_is_override, source in ((False, data), (True, overrides or {})):
            for key, value in source.items():
                if key in names:
                    result[key] = value
                    explicit.add(key)
                elif key in aliases:
                    target = aliases[key]
                    # the bert4torch name given explicitly beats the HF alias from the same or an earlier source
                    if target not in explicit or source_is_override:
                        result[target] = value
                elif key in checked:
                    if value not in checked[key]:
                        raise ConfigError(
                            f"{cls.__name__}: {key}={value!r} is not supported (supported: {checked[key]})"
                        )
                elif key in ignored:
                    continue
                else:
                    raise ConfigError(f"unknown option {key!r} for {cls.__name__}; {close_name(key, sorted(names | set(aliases)))}")
        missing = [f.name for f in fields(cls) if f.name not in result and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise ConfigError(f"{cls.__name__}: required option(s) missing: {', '.join(missing)}")
        return cls(**result)

    @classmethod
    def preprocess(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Family hook: rewrite value-dependent HF keys before validation (default: unchanged)."""
        return data

    def to_dict(self) -> dict[str, Any]:
        """Plain field values (modules included as they are)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
