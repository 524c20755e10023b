"""The shared model base: the original's list-input convention, the forward pipeline and its hooks, saving.

Contract for family classes (subclass :class:`BERT_BASE`, usually through ``BERT``):

* ``config_class``: the family's config dataclass; ``__init__(config=None, /, **options)`` accepts either a config
  object or the options as keywords (validated by ``config_class.from_dict``: a typo raises). Every config field is
  also an attribute (``self.hidden_size``), as the original's custom models expect.
* ``prefix`` and ``weight_map`` (see ``_weights``), ``hf_model_type``/``to_hf_config()`` for ``save_pretrained``.
* ``forward(inputs)`` takes one list/tuple (or a single tensor): token_ids, then segment_ids if
  ``segment_vocab_size > 0``, position_ids if ``custom_position_ids``, attention_mask if ``custom_attention_mask``,
  the ``layer_norm_cond`` input if any, then one input per ``layer_add_embs`` module. It runs
  ``apply_embeddings -> apply_main_layers -> apply_final_layers``.
* Between stages the state is a list ``[hidden_states, attention_mask, conditional_emb, position_ids]`` where
  ``attention_mask`` is already *additive* (0 keep, very negative drop), broadcastable to
  ``[btz, heads, q, k]``. ``apply_on_layer_begin(l_i, layer_inputs)`` / ``apply_on_layer_end(l_i, layer_inputs)``
  may replace ``layer_inputs[0]`` (MixUp 'hidden', BERT-of-Theseus).
* ``compute_attention_bias(inputs)`` returns an extra 0/1 mask multiplied into the padding mask (``LM_Mask``,
  ``UniLM_Mask`` override it); None means no extra mask.
* ``load_variable(name, tensor)`` adapts a checkpoint tensor to our parameter ``name`` (keep_tokens,
  compound_tokens); ``expected_new_parameters()`` names parameters that cannot be in a pretrained checkpoint.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint as grad_checkpoint

from bert4torch.layers import LayerNorm

from ._config import EncoderConfig
from ._model import ModelBase
from ._weights import LoadReport, WeightMap, invert_weight_map, save_state_dict

__all__ = ["BERT_BASE", "LM_Mask", "UniLM_Mask", "extend_with_language_model", "extend_with_unified_language_model"]


class BERT_BASE(ModelBase):  # noqa: N801 - the original's public name
    """Base of every encoder family: config handling, the three-stage forward, hooks, loading and saving."""

    config_class: ClassVar[type[EncoderConfig]] = EncoderConfig
    prefix: ClassVar[str] = ""
    weight_map: ClassVar[WeightMap] = {}
    hf_model_type: ClassVar[str | None] = None
    hf_architecture: ClassVar[str | None] = None

    def __init__(self, config: EncoderConfig | None = None, /, **options: Any) -> None:
        super().__init__()
        self.config = config = self.config_from(config, options)
        for key, value in config.to_dict().items():
            if key in ("layer_norm_cond", "layer_add_embs"):
                continue
            setattr(self, key, value)
        self.embedding_size = config.embedding_size or config.hidden_size
        self.attention_head_size = config.attention_head_size or config.hidden_size // config.num_attention_heads
        self.layer_norm_conds = config.layer_norm_cond
        if config.layer_norm_cond is not None:
            self.conditional_size = config.conditional_size or config.layer_norm_cond.weight.size(1)
        else:
            self.conditional_size = config.conditional_size or 0
        add = config.layer_add_embs
        self.layer_add_embs = [] if add is None else ([add] if isinstance(add, nn.Module) else list(add))
        if config.with_nsp and not config.with_pool:
            self.with_pool = True
        self.load_report: LoadReport | None = None

    # ------------------------------------------------------------------------------------------------ inputs
    def _split_inputs(self, inputs: Any) -> dict[str, Any]:
        if isinstance(inputs, torch.Tensor):
            inputs = [inputs]
        inputs = list(inputs)
        out: dict[str, Any] = {"token_ids": inputs.pop(0)}
        out["segment_ids"] = inputs.pop(0) if self.segment_vocab_size > 0 and inputs else None
        out["position_ids"] = inputs.pop(0) if self.custom_position_ids else None
        out["attention_mask"] = inputs.pop(0) if self.custom_attention_mask else None
        out["conditional_input"] = inputs.pop(0) if self.layer_norm_conds is not None else None
        out["additional_embs"] = [inputs.pop(0) for _ in self.layer_add_embs] if self.layer_add_embs else None
        if inputs:
            raise ValueError(f"{type(self).__name__} got {len(inputs)} more input(s) than its options declare")
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
            if keep.dim() == 2:
                keep = keep[:, None, None, :]
            elif keep.dim() == 3:
                keep = keep[:, None, :, :]
        bias = self.compute_attention_bias([token_ids, segment_ids])
        if bias is not None:
            bias = bias.bool()
            keep = bias if keep is None else keep & bias
        if keep is None:
            return None
        return torch.zeros(keep.shape, dtype=dtype, device=keep.device).masked_fill_(~keep, torch.finfo(dtype).min)

    # ------------------------------------------------------------------------------------------------ forward
    def forward(self, *inputs: Any) -> Any:
        """Run ``apply_embeddings``, ``apply_main_layers`` and ``apply_final_layers``.

        Takes the original's single list (``model([token_ids, segment_ids])``) or the same items as separate
        arguments (``model(token_ids, segment_ids)``, which is how the trainer unpacks a batch's list).
        """
        inputs = inputs[0] if len(inputs) == 1 else list(inputs)
        outputs = self.apply_embeddings(inputs)
        outputs = self.apply_main_layers(outputs)
        return self.apply_final_layers(outputs)

    def apply_embeddings(self, inputs: Any) -> list[Any]:
        parts = self._split_inputs(inputs)
        token_ids = parts["token_ids"]
        conditional_emb = self.layer_norm_conds(parts["conditional_input"]) if self.layer_norm_conds is not None else None
        hidden_states = self.embeddings(token_ids, parts["segment_ids"], parts["position_ids"] if self._absolute_position_input else None,
                                        conditional_emb, parts["additional_embs"])
        mask = self.build_attention_mask(token_ids, parts["segment_ids"], parts["attention_mask"], hidden_states.dtype)
        return [hidden_states, mask, conditional_emb, parts["position_ids"]]

    _absolute_position_input: ClassVar[bool] = True

    def apply_on_layer_begin(self, l_i: int, layer_inputs: list[Any]) -> list[Any]:
        """Hook before layer ``l_i``; return the (possibly changed) ``[hidden, mask, cond, position_ids]``."""
        return layer_inputs

    def apply_on_layer_end(self, l_i: int, layer_inputs: list[Any]) -> list[Any]:
        """Hook after layer ``l_i``; ``layer_inputs[0]`` is the layer's output."""
        return layer_inputs

    def _run_layer(self, layer: nn.Module, layer_inputs: list[Any]) -> torch.Tensor:
        hidden, mask, cond, position_ids = layer_inputs[:4]
        if self.gradient_checkpoint and self.training:
            return grad_checkpoint(lambda h, m, c: layer(h, m, c, position_ids=position_ids), hidden, mask, cond, use_reentrant=False)
        return layer(hidden, mask, cond, position_ids=position_ids)

    def apply_main_layers(self, inputs: list[Any]) -> list[Any]:
        hidden_states, mask, conditional_emb, position_ids = inputs[:4]
        encoded_layers = [hidden_states]
        layer_inputs = [hidden_states, mask, conditional_emb, position_ids]
        for l_i, layer in enumerate(self.encoderLayer):
            layer_inputs = self.apply_on_layer_begin(l_i, layer_inputs)
            layer_inputs[0] = self._run_layer(layer, layer_inputs)
            layer_inputs = self.apply_on_layer_end(l_i, layer_inputs)
            if self.output_all_encoded_layers:
                encoded_layers.append(layer_inputs[0])
        if not self.output_all_encoded_layers:
            encoded_layers.append(layer_inputs[0])
        return [encoded_layers, conditional_emb]

    def apply_final_layers(self, inputs: list[Any]) -> Any:
        encoded_layers = inputs[0]
        return encoded_layers if self.output_all_encoded_layers else encoded_layers[-1]

    # ------------------------------------------------------------------------------------------------ weights
    def _user_modules(self) -> set[int]:
        """Ids of modules the user passed in (``layer_norm_cond``, ``layer_add_embs``): never re-initialised."""
        ids: set[int] = set()
        for root in [self.layer_norm_conds, *self.layer_add_embs]:
            if isinstance(root, nn.Module):
                ids.update(id(m) for m in root.modules())
        return ids

    def init_model_weights(self, module: nn.Module) -> None:
        """The original's init: normal(0, initializer_range) for Linear/Embedding, ones/zeros for LayerNorm.

        Modules the user passed in keep their own initialisation.
        """
        if id(module) in self._user_modules():
            return
        if any(t.is_meta for t in module.parameters(recurse=False)):
            return  # built for loading: the checkpoint provides the values (and normal_ on meta is expensive)
        if isinstance(module, (nn.Linear, nn.Embedding)):
            module.weight.data.normal_(mean=0.0, std=self.initializer_range)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, LayerNorm):
            if module.weight is not None:
                module.weight.data.fill_(1.0)
            if module.bias is not None:
                module.bias.data.zero_()
            if module.conditional_size:
                module.dense1.weight.data.zero_()
                module.dense2.weight.data.zero_()

    def expected_new_parameters(self) -> set[str]:
        """Parameters that a pretrained checkpoint cannot hold: initialised, never reported missing."""
        new: set[str] = set()
        for name, module in self.named_modules():
            if isinstance(module, LayerNorm) and module.conditional_size:
                new.update(f"{name}.{leaf}" for leaf in ("dense1.weight", "dense2.weight"))
        for name, _ in self.named_parameters(remove_duplicate=False):
            if name.startswith(("embeddings.layer_add_embs.", "layer_norm_conds.")):
                new.add(name)
        return new

    def tie_weights(self) -> None:
        """Share the MLM decoder with the word embedding when ``tie_emb_prj_weight`` (HF ``tie_word_embeddings``).

        After a checkpoint load, a decoder matrix that the checkpoint stores with values different from the word
        embedding stays untied (the original bert4torch did not tie by default, and its files say so by holding two
        different matrices); a checkpoint without one (HF drops tied copies) gets the tie.
        """
        decoder = getattr(self, "mlmDecoder", None)
        embedding = self.embeddings.word_embeddings.weight
        if decoder is None or not self.tie_emb_prj_weight or decoder.weight.shape != embedding.shape:
            return
        report = self.load_report
        if report is not None and "mlmDecoder.weight" in report.loaded and not decoder.weight.is_meta and not embedding.is_meta:
            if not torch.equal(decoder.weight, embedding):
                return
        decoder.weight = embedding

    def tied_parameters(self) -> dict[str, str]:
        """``{parameter: source}`` for parameters that ``tie_weights`` fills when the checkpoint lacks them."""
        decoder = getattr(self, "mlmDecoder", None)
        if decoder is not None and self.tie_emb_prj_weight and decoder.weight.shape == self.embeddings.word_embeddings.weight.shape:
            return {"mlmDecoder.weight": "embeddings.word_embeddings.weight"}
        return {}

    def untie_weights(self) -> None:
        """Give the MLM decoder its own parameter (before loading, so both matrices load separately)."""
        decoder = getattr(self, "mlmDecoder", None)
        if decoder is not None and decoder.weight is self.embeddings.word_embeddings.weight:
            decoder.weight = nn.Parameter(decoder.weight.detach().clone() if not decoder.weight.is_meta
                                          else torch.empty_like(decoder.weight))

    def _vocab_rows(self, tensor: torch.Tensor) -> torch.Tensor:
        """Apply keep_tokens then compound_tokens to a tensor whose first axis is the vocabulary."""
        if self.keep_tokens is not None:
            tensor = tensor[torch.as_tensor(self.keep_tokens, dtype=torch.long)]
        if self.compound_tokens:
            # one new row per group: the mean of the group's rows (the original appended len(group) rows: a defect)
            rows = [tensor[torch.as_tensor(list(group), dtype=torch.long)].mean(0, keepdim=True) for group in self.compound_tokens]
            tensor = torch.cat([tensor, *rows], 0)
        return tensor

    vocab_parameters: ClassVar[tuple[str, ...]] = ("embeddings.word_embeddings.weight", "mlmDecoder.weight", "mlmBias")

    def load_variable(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        """Adapt a checkpoint tensor to parameter ``name`` (vocabulary surgery for keep/compound tokens)."""
        if name in self.vocab_parameters and (self.keep_tokens is not None or self.compound_tokens):
            return self._vocab_rows(tensor)
        return tensor

    def _checkpoint_layout_state(self, mapping: dict[str, str] | None) -> dict[str, torch.Tensor]:
        inverse = invert_weight_map(self.weight_map, self.num_hidden_layers) if mapping is None else mapping
        out: dict[str, torch.Tensor] = {}
        for name, tensor in self.state_dict().items():
            key = inverse.get(name, name)
            out.setdefault(key, tensor)
        return out

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Our weights under the checkpoint's keys (the derived inverse of the family's weight map)."""
        return self._checkpoint_layout_state(None)

    def variable_mapping(self) -> dict[str, str]:
        """``{our parameter name: checkpoint key}``, derived from the family's weight map (the original's method)."""
        return invert_weight_map(self.weight_map, self.num_hidden_layers)

    def to_hf_config(self) -> dict[str, Any]:
        """The HF ``config.json`` for this model (families override to add their keys)."""
        c = self.config
        return {
            "architectures": [self.hf_architecture] if self.hf_architecture else None,
            "model_type": self.hf_model_type,
            "vocab_size": self.embeddings.word_embeddings.weight.shape[0],
            "hidden_size": c.hidden_size,
            "num_hidden_layers": c.num_hidden_layers,
            "num_attention_heads": c.num_attention_heads,
            "intermediate_size": c.intermediate_size,
            "hidden_act": c.hidden_act,
            "hidden_dropout_prob": c.dropout_rate,
            "attention_probs_dropout_prob": c.attention_probs_dropout_prob,
            "max_position_embeddings": c.max_position,
            "type_vocab_size": c.segment_vocab_size,
            "initializer_range": c.initializer_range,
            "layer_norm_eps": c.layer_norm_eps,
            "pad_token_id": c.token_pad_ids,
            "tie_word_embeddings": c.tie_emb_prj_weight,
        }

    def save_pretrained(self, save_path: str | os.PathLike) -> None:
        """Write ``config.json`` and ``model.safetensors`` in the family's HF layout (``from_pretrained`` loads it)."""
        folder = Path(save_path)
        folder.mkdir(parents=True, exist_ok=True)
        config = {k: v for k, v in self.to_hf_config().items() if v is not None}
        (folder / "config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False))
        save_state_dict(self._checkpoint_layout_state(None), folder / "model.safetensors")


class LM_Mask:  # noqa: N801 - the original's public name
    """Mixin: a lower-triangular (causal) mask, for ``application='lm'``."""

    def compute_attention_bias(self, inputs: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        token_ids = inputs[0]
        seq_len = token_ids.shape[1]
        return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device=token_ids.device))[None, None]


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
