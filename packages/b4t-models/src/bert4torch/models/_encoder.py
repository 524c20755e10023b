"""``BERT_BASE``: the encoder stack of the original's list-input convention, its forward pipeline and its hooks.

Contract for encoder families (subclass :class:`BERT_BASE`, usually through ``BERT``):

* every config field is also an attribute (``self.hidden_size``), as the original's custom models expect;
* ``forward(inputs)`` takes one list/tuple (or a single tensor): token_ids, then segment_ids if
  ``segment_vocab_size > 0``, position_ids if ``custom_position_ids``, attention_mask if ``custom_attention_mask``,
  the ``layer_norm_cond`` input if any, then one input per ``layer_add_embs`` module, then (``is_decoder``) the
  encoder's hidden states and its 0/1 mask (``[btz, src]`` or ``[btz, 1, 1, src]``). It runs
  ``apply_embeddings -> apply_main_layers -> apply_final_layers``;
* between stages the state is the original's list ``[hidden_states, attention_mask, conditional_emb]`` (a decoder,
  ``is_decoder=True``, adds ``[encoder_hidden_states, encoder_attention_mask]``) where the masks are already
  *additive* (0 keep, very negative drop), broadcastable to ``[btz, heads, q, k]``; the embedding stage's list
  (:class:`EmbeddingOutput`) also carries ``position_ids`` (and a family's extras) as attributes.
  ``apply_on_layer_begin(l_i, layer_inputs)`` / ``apply_on_layer_end(l_i, layer_inputs)`` may replace
  ``layer_inputs[0]`` (MixUp 'hidden', BERT-of-Theseus); a layer is called ``layer(hidden, mask, cond, ...)``;
* family hooks: ``layer_extras(inputs)`` (per-forward keyword inputs of every layer: RoPE angles, relative
  positions), ``layer_sequence()`` (ALBERT repeats one layer), ``after_layer(l_i, hidden, inputs)`` (DeBERTa's conv);
* ``compute_attention_bias(inputs)`` returns an extra 0/1 mask multiplied into the padding mask (``LM_Mask``,
  ``UniLM_Mask`` override it); None means no extra mask;
* ``load_variable(name, tensor)`` adapts a checkpoint tensor to our parameter (keep_tokens, compound_tokens).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from ._base import ModelBase
from ._config import EncoderConfig
from ._input_checks import check_ids
from ._surgery import expand_positions, vocab_rows

__all__ = ["BERT_BASE", "EmbeddingOutput", "LM_Mask", "UniLM_Mask", "extend_with_language_model",
           "extend_with_unified_language_model"]


class EmbeddingOutput(list):
    """The embedding stage's list ``[hidden_states, attention_mask, conditional_emb]`` (plus the encoder's hidden
    states and additive mask for a decoder), as the original's ``apply_embeddings`` returned it; what the family hooks
    read besides (``position_ids``, DeBERTa's ``token_keep``) rides along as attributes."""

    position_ids: torch.Tensor | None = None
    token_keep: torch.Tensor | None = None


def additive_mask(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A 0/1 (or bool) keep mask -> additive (0 keep, the dtype's minimum drop); ``[btz, k]`` becomes ``[btz, 1, 1, k]``."""
    keep = keep.bool()
    keep = keep[:, None, None, :] if keep.dim() == 2 else (keep[:, None] if keep.dim() == 3 else keep)
    return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill_(~keep, torch.finfo(dtype).min)


def _like(segment_ids: Any, token_ids: Any) -> bool:
    """An integer tensor of the token ids' shape (what segment ids look like)."""
    return (isinstance(segment_ids, torch.Tensor) and isinstance(token_ids, torch.Tensor)
            and not segment_ids.is_floating_point() and segment_ids.shape == token_ids.shape)


class BERT_BASE(ModelBase):  # noqa: N801 - the original's public name
    """Base of every encoder family: the list inputs, the three-stage forward and its hooks."""

    config_class: ClassVar[type[EncoderConfig]] = EncoderConfig
    # parameters whose first axis is the vocabulary (keep_tokens / compound_tokens surgery)
    vocab_parameters: ClassVar[tuple[str, ...]] = ("embeddings.word_embeddings.weight", "mlmDecoder.weight", "mlmBias")
    # the optional heads (modules or parameters): initialised with a notice when the checkpoint has none
    head_names: ClassVar[tuple[str, ...]] = ("pooler", "nsp", "mlmDense", "mlmLayerNorm", "mlmDecoder", "mlmBias")

    def build(self) -> None:
        """Copy every config field onto the model (the original's custom models read ``self.hidden_size``)."""
        for key, value in self.config.to_dict().items():
            if key not in ("layer_norm_cond", "layer_add_embs"):
                setattr(self, key, value)
        self.layer_norm_conds = self.config.layer_norm_cond
        add = self.config.layer_add_embs
        self.layer_add_embs = [] if add is None else ([add] if isinstance(add, nn.Module) else list(add))

    # ------------------------------------------------------------------------------------------------ inputs
    def input_names(self) -> list[str]:
        """The list inputs ``forward`` takes, in order (the options decide which)."""
        names = ["token_ids", "segment_ids"] if self.segment_vocab_size > 0 else ["token_ids"]
        names += ["position_ids"] if self.custom_position_ids else []
        names += ["attention_mask"] if self.custom_attention_mask else []
        names += ["layer_norm_cond input"] if self.layer_norm_conds is not None else []
        names += [f"layer_add_embs[{i}] input" for i in range(len(self.layer_add_embs))]
        return names + (["encoder_hidden_states", "encoder_attention_mask"] if self.is_decoder else [])

    def _split_inputs(self, inputs: Any) -> dict[str, Any]:
        items = [inputs] if isinstance(inputs, torch.Tensor) else list(inputs)
        expected = ", ".join(self.input_names())
        if self.segment_vocab_size <= 0 and len(items) == len(self.input_names()) + 1 and _like(items[1], items[0]):
            # segment ids for a model without a segment table (DeBERTa-v2's type_vocab_size=0): ignored, as the
            # original and transformers ignore them
            del items[1]

        def take(name: str) -> Any:
            if not items:
                raise ValueError(f"{type(self).__name__} takes inputs [{expected}]: {name} is missing")
            return items.pop(0)

        out: dict[str, Any] = {"token_ids": take("token_ids")}
        out["segment_ids"] = items.pop(0) if self.segment_vocab_size > 0 and items else None
        out["position_ids"] = take("position_ids") if self.custom_position_ids else None
        out["attention_mask"] = take("attention_mask") if self.custom_attention_mask else None
        out["conditional_input"] = take("layer_norm_cond input") if self.layer_norm_conds is not None else None
        out["additional_embs"] = [take(f"layer_add_embs[{i}] input") for i in range(len(self.layer_add_embs))] or None
        # a decoder without encoder inputs runs its self-attention alone (the original's rule)
        out["encoder_hidden_states"] = items.pop(0) if self.is_decoder and items else None
        out["encoder_attention_mask"] = items.pop(0) if self.is_decoder and items else None
        if items:
            raise ValueError(f"{type(self).__name__} takes inputs [{expected}] and got {len(items)} more")
        return out

    def compute_attention_bias(self, inputs: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor | None:
        """An extra 0/1 mask ``[btz|1, 1, q, k]`` combined with the padding mask; None in a plain encoder."""
        return None

    def build_attention_mask(self, token_ids: torch.Tensor, segment_ids: torch.Tensor | None,
                             attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
        """The additive mask from padding (or the given mask) and ``compute_attention_bias``."""
        if attention_mask is None:
            keep = token_ids != self.token_pad_ids if not token_ids.is_floating_point() else None
            keep = None if keep is None or bool(keep.all()) else keep[:, None, None, :]
        else:
            keep = attention_mask.bool()
            keep = keep[:, None, None, :] if keep.dim() == 2 else (keep[:, None] if keep.dim() == 3 else keep)
        bias = self.compute_attention_bias([token_ids, segment_ids])
        if bias is not None:
            keep = bias.bool() if keep is None else keep & bias.bool()
        return None if keep is None else additive_mask(keep, dtype)

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, *inputs: Any) -> Any:
        """Run ``apply_embeddings``, ``apply_main_layers`` and ``apply_final_layers``.

        Takes the original's single list (``model([token_ids, segment_ids])``) or the same items as separate
        arguments (``model(token_ids, segment_ids)``, which is how the trainer unpacks a batch's list).
        """
        inputs = inputs[0] if len(inputs) == 1 else list(inputs)
        return self.apply_final_layers(self.apply_main_layers(self.apply_embeddings(inputs)))

    def embed(self, parts: dict[str, Any], conditional_emb: torch.Tensor | None) -> torch.Tensor:
        """The embedding output of the split inputs (families change what the embeddings receive)."""
        return self.embeddings(parts["token_ids"], parts["segment_ids"], parts["position_ids"], conditional_emb,
                               parts["additional_embs"])

    def apply_embeddings(self, inputs: Any) -> EmbeddingOutput:
        parts = self._split_inputs(inputs)
        check_ids(self.embeddings, parts["token_ids"], parts["segment_ids"], parts["position_ids"],
                  pad_id=self.token_pad_ids)
        cond = self.layer_norm_conds(parts["conditional_input"]) if self.layer_norm_conds is not None else None
        hidden_states = self.embed(parts, cond)
        mask = self.build_attention_mask(parts["token_ids"], parts["segment_ids"], parts["attention_mask"],
                                         hidden_states.dtype)
        out = EmbeddingOutput([hidden_states, mask, cond])
        if parts["encoder_hidden_states"] is not None:
            encoder_mask = parts["encoder_attention_mask"]
            out += [parts["encoder_hidden_states"],
                    None if encoder_mask is None else additive_mask(encoder_mask, hidden_states.dtype)]
        out.position_ids = parts["position_ids"]
        return out

    def apply_on_layer_begin(self, l_i: int, layer_inputs: list[Any]) -> list[Any]:
        """Hook before layer ``l_i``; return the (possibly changed) ``[hidden, mask, cond, position_ids]``."""
        return layer_inputs

    def apply_on_layer_end(self, l_i: int, layer_inputs: list[Any]) -> list[Any]:
        """Hook after layer ``l_i``; ``layer_inputs[0]`` is the layer's output."""
        return layer_inputs

    def layer_extras(self, inputs: list[Any]) -> dict[str, Any]:
        """Keyword inputs every layer gets, computed once per forward from the embedding stage's output."""
        return {"position_ids": getattr(inputs, "position_ids", None)}

    def layer_sequence(self) -> Iterator[tuple[int, nn.Module]]:
        """``(l_i, layer)`` in the order the layers run."""
        return enumerate(self.encoderLayer)

    def after_layer(self, l_i: int, hidden: torch.Tensor, inputs: list[Any]) -> torch.Tensor:
        """Family hook on a layer's output (before ``apply_on_layer_end``)."""
        return hidden

    def _run_layer(self, layer: nn.Module, layer_inputs: list[Any], extras: dict[str, Any]) -> torch.Tensor:
        hidden, mask, cond = layer_inputs[:3]
        if len(layer_inputs) > 3 and layer_inputs[3] is not None:  # a decoder's cross-attention inputs
            extras = {**extras, "encoder_hidden_states": layer_inputs[3], "encoder_attention_mask": layer_inputs[4]}
        if self.gradient_checkpoint and self.training:
            return grad_checkpoint(lambda h, m, c: layer(h, m, c, **extras), hidden, mask, cond, use_reentrant=False)
        return layer(hidden, mask, cond, **extras)

    def apply_main_layers(self, inputs: list[Any]) -> list[Any]:
        extras = self.layer_extras(inputs)
        encoded_layers = [inputs[0]]
        layer_inputs = list(inputs[:5])
        for l_i, layer in self.layer_sequence():
            layer_inputs = self.apply_on_layer_begin(l_i, layer_inputs)
            layer_inputs[0] = self.after_layer(l_i, self._run_layer(layer, layer_inputs, extras), inputs)
            layer_inputs = self.apply_on_layer_end(l_i, layer_inputs)
            if self.output_all_encoded_layers:
                encoded_layers.append(layer_inputs[0])
        if not self.output_all_encoded_layers:
            encoded_layers.append(layer_inputs[0])
        return [encoded_layers, inputs[2]]

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers = inputs[0]
        return encoded_layers if self.output_all_encoded_layers else encoded_layers[-1]

    # ------------------------------------------------------------------------------------------------ weights
    def user_modules(self) -> set[int]:
        """Ids of the modules the user passed in (``layer_norm_cond``, ``layer_add_embs``): never re-initialised."""
        return {id(m) for root in [self.layer_norm_conds, *self.layer_add_embs] if isinstance(root, nn.Module)
                for m in root.modules()}

    def added_parameters(self) -> set[str]:
        """The heads switched on, cross-attention (``is_decoder``), a subclass's layers; and the position table when
        the config file is NEZHA's (relative positions: its checkpoints have no table)."""
        nezha = {"max_relative_position", "use_relative_position"} & set(self.config.ignored_keys)
        return super().added_parameters() | {
            name for name in self.state_dict()
            if name.split(".")[0] in self.head_names or ".crossAttention." in name or ".crossLayerNorm." in name
            or (nezha and name == "embeddings.position_embeddings.weight")}

    def expected_new_parameters(self) -> set[str]:
        """Conditional LayerNorm gains and the user's modules: a pretrained checkpoint cannot hold them."""
        user = {n for n, _ in self.named_parameters(remove_duplicate=False)
                if n.startswith(("embeddings.layer_add_embs.", "layer_norm_conds."))}
        return super().expected_new_parameters() | user

    def tied_weights(self) -> dict[str, str]:
        """The MLM decoder shares the word embedding when ``tie_emb_prj_weight`` (HF ``tie_word_embeddings``)."""
        if self.with_mlm and self.tie_emb_prj_weight:
            return {"mlmDecoder.weight": "embeddings.word_embeddings.weight"}
        return {}

    def load_variable(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Vocabulary surgery for ``keep_tokens``/``compound_tokens`` on the parameters indexed by token id, and the
        hierarchical expansion of a shorter position table."""
        if name in self.vocab_parameters:
            return vocab_rows(tensor, self.vocab_size, self.keep_tokens, self.compound_tokens)
        if name == "embeddings.position_embeddings.weight" and self.hierarchical_position:
            return expand_positions(tensor, self.max_position, self.hierarchical_position)
        return tensor

    def to_hf_config(self) -> dict[str, Any]:
        """The HF ``config.json`` of a BERT-like encoder (families add their keys)."""
        c = self.config
        return {"vocab_size": self.embeddings.word_embeddings.weight.shape[0],
                **{hf: getattr(c, ours) for ours, hf in _HF_ENCODER_KEYS.items()}}


# our config field -> the key of an HF BERT-like config.json
_HF_ENCODER_KEYS = {
    "hidden_size": "hidden_size", "num_hidden_layers": "num_hidden_layers", "hidden_act": "hidden_act",
    "num_attention_heads": "num_attention_heads", "intermediate_size": "intermediate_size",
    "dropout_rate": "hidden_dropout_prob", "attention_probs_dropout_prob": "attention_probs_dropout_prob",
    "max_position": "max_position_embeddings", "segment_vocab_size": "type_vocab_size",
    "initializer_range": "initializer_range", "layer_norm_eps": "layer_norm_eps", "token_pad_ids": "pad_token_id",
    "tie_emb_prj_weight": "tie_word_embeddings",
}


class LM_Mask:  # noqa: N801 - the original's public name
    """Mixin: a lower-triangular (causal) mask, for ``application='lm'``."""

    def compute_attention_bias(self, inputs: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        seq_len, device = inputs[0].shape[1], inputs[0].device
        return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=device))[None, None]


class UniLM_Mask:  # noqa: N801 - the original's public name
    """Mixin: the UniLM mask: segment 0 attends bidirectionally to itself, segment 1 causally to all before it.

    Built from ``cumsum(segment_ids)``: position j is visible from i when ``idx[j] <= idx[i]``.
    """

    def compute_attention_bias(self, inputs: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        segment_ids = inputs[1]
        if segment_ids is None:
            raise ValueError("application='unilm' needs segment_ids (segment_vocab_size > 0)")
        idxs = torch.cumsum(segment_ids, dim=1)
        return (idxs[:, None, :] <= idxs[:, :, None])[:, None]


_EXTENDED: dict[tuple[type, type], type] = {}


def _extend(mixin: type, name_prefix: str, model_class: type[BERT_BASE]) -> type[BERT_BASE]:
    """One cached subclass per (mixin, family): pickle finds it as ``bert4torch.models.<name_prefix><Family>``."""
    key = (mixin, model_class)
    if key not in _EXTENDED:
        _EXTENDED[key] = type(f"{name_prefix}{model_class.__name__}", (mixin, model_class),
                              {"__module__": "bert4torch.models"})
    return _EXTENDED[key]


def extend_with_language_model(model_class: type[BERT_BASE]) -> type[BERT_BASE]:
    """A subclass of ``model_class`` with the causal mask (the original's helper)."""
    return _extend(LM_Mask, "LanguageModel", model_class)


def extend_with_unified_language_model(model_class: type[BERT_BASE]) -> type[BERT_BASE]:
    """A subclass of ``model_class`` with the UniLM mask (the original's helper)."""
    return _extend(UniLM_Mask, "UnifiedLanguageModel", model_class)
