"""GPT-2 (``model='gpt2'``): pre-LN decoder with learned absolute positions and a tied LM head, with a KV cache.

Mirrors ``transformers.GPT2LMHeadModel`` (which mirrors OpenAI's TF code). Parameter names follow the original
bert4torch (``encoderLayer.{i}.multiHeadAttention.q``, ``LayerNormFinal``, ``dense``), so the weight map below is the
only bridge to the HF checkpoint. The HF checkpoint stores attention and MLP weights as ``Conv1D`` (``[in, out]``)
and q/k/v fused in ``c_attn``; :func:`gpt2_split_c_attn` / :func:`gpt2_merge_c_attn` do that surgery, before the
map when loading and after its inverse when saving.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bert4torch.layers import PRE_NORM, LayerNorm

from ._config import DecoderConfig
from ._decoder import CausalLM, decoder_embeddings, decoder_layers
from ._weights import module_keys
from .bert import bert_layout_keys

__all__ = ["GPT2", "GPT2Config", "GPT2_WEIGHT_MAP", "gpt2_merge_c_attn", "gpt2_split_c_attn"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class GPT2Config(DecoderConfig):
    """GPT-2 hyper-parameters (field names are the original bert4torch ones; HF names are aliases)."""

    hidden_act: str = "gelu_new"  # GPT-2 uses the tanh approximation
    max_position: int = 1024  # rows of the position embedding (HF n_positions)

    aliases: ClassVar[dict[str, str]] = {
        "n_embd": "hidden_size", "n_layer": "num_hidden_layers", "n_head": "num_attention_heads",
        "n_inner": "intermediate_size", "activation_function": "hidden_act", "n_positions": "max_position",
        "resid_pdrop": "dropout_rate", "attn_pdrop": "attention_probs_dropout_prob",
    }
    ignored: ClassVar[frozenset[str]] = frozenset({"embd_pdrop"})  # GPT-2 checkpoints set it equal to resid_pdrop
    # segment_vocab_size=0 is what the original's GPT-2 examples pass; GPT-2 has no segment embedding
    checked: ClassVar[dict[str, tuple]] = {"scale_attn_weights": (True,), "scale_attn_by_inverse_layer_idx": (False,),
                                           "reorder_and_upcast_attn": (False,), "segment_vocab_size": (0,)}


# HF GPT2LMHeadModel checkpoint key (after gpt2_split_c_attn) -> our parameter name.
GPT2_WEIGHT_MAP: dict[str, str | None] = {
    "transformer.wte.weight": "embeddings.word_embeddings.weight",
    "transformer.wpe.weight": "embeddings.position_embeddings.weight",
    **module_keys({f"transformer.h.{{}}.{theirs}": f"encoderLayer.{{}}.{ours}" for theirs, ours in {
        "ln_1": "layerNorm1", "attn.q": "multiHeadAttention.q", "attn.k": "multiHeadAttention.k",
        "attn.v": "multiHeadAttention.v", "attn.c_proj": "multiHeadAttention.o", "ln_2": "layerNorm2",
        "mlp.c_fc": "feedForward.intermediateDense", "mlp.c_proj": "feedForward.outputDense"}.items()}),
    **module_keys({"transformer.ln_f": "LayerNormFinal"}),
    "lm_head.weight": "dense.weight",
    # old checkpoints carry the causal-mask buffers; they are not weights
    "transformer.h.{}.attn.bias": None,
    "transformer.h.{}.attn.masked_bias": None,
    # the original's convert script (CPM, convert_gpt2__cmp_lm_2.6b.py) writes the BERT layout under `gpt2.`
    **bert_layout_keys("gpt2"),
    **module_keys({"gpt2.LayerNormFinal": "LayerNormFinal"}),
}


class OpenAICheckpoint:
    """Mixin of the families whose checkpoints keep OpenAI's layout (GPT, GPT-2): ``Conv1D`` weights stored
    ``[in, out]`` and q/k/v fused in ``c_attn``; the surgery runs before the map when loading, after it when saving."""

    def convert_checkpoint_tensors(self, items: Iterable[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
        return gpt2_split_c_attn(items)

    def restore_checkpoint_tensors(self, state: dict[str, Tensor]) -> dict[str, Tensor]:
        return gpt2_merge_c_attn(state)


class GPT2(OpenAICheckpoint, CausalLM, config=GPT2Config, prefix="transformer", weight_map=GPT2_WEIGHT_MAP,
           hf_model_type="gpt2", hf_architecture="GPT2LMHeadModel"):
    """GPT-2 language model returning logits over the vocabulary (``model='gpt2'``): pre-LN layers, a final
    LayerNorm, learned positions, the head tied to the token embedding.

    Args:
        config: A :class:`GPT2Config`, or None to build one from ``options``.
        **options: Config fields or their HF aliases (validated: an unknown name raises).
    """

    layers_name, final_name, head_name = "encoderLayer", "LayerNormFinal", "dense"

    def build(self) -> None:
        c = self.config
        self.embeddings = decoder_embeddings(c)
        self.encoderLayer = decoder_layers(c, PRE_NORM)
        self.LayerNormFinal = LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dense = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def to_hf_config(self) -> dict[str, Any]:
        """``config.json`` for ``transformers.GPT2LMHeadModel``."""
        c = self.config
        return {
            "vocab_size": c.vocab_size, "n_embd": c.hidden_size, "n_layer": c.num_hidden_layers,
            "n_head": c.num_attention_heads, "n_inner": c.intermediate_size, "activation_function": c.hidden_act,
            "n_positions": c.max_position, "layer_norm_epsilon": c.layer_norm_eps, "resid_pdrop": c.dropout_rate,
            "embd_pdrop": c.dropout_rate, "attn_pdrop": c.attention_probs_dropout_prob,
            "tie_word_embeddings": c.tie_word_embeddings, "pad_token_id": c.token_pad_ids,
            "initializer_range": c.initializer_range,
        }

# Conv1D weights are stored [in, out]; nn.Linear wants [out, in].
_CONV1D_SUFFIXES = ("attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt2_split_c_attn(items: Iterable[tuple[str, Tensor]]) -> Iterator[tuple[str, Tensor]]:
    """HF GPT-2 layout -> the layout :data:`GPT2_WEIGHT_MAP` reads: split ``c_attn`` into q/k/v, transpose Conv1D.

    Only HF keys are touched (a ``c_attn``/``c_fc``/``c_proj`` suffix), so a file saved with our own parameter names
    passes through unchanged.

    Args:
        items: ``(checkpoint key, tensor)`` pairs, e.g. ``state_dict.items()``.

    Yields:
        ``...attn.c_attn.{weight,bias}`` as ``...attn.{q,k,v}.{weight,bias}`` in ``nn.Linear`` layout, Conv1D weights
        transposed, everything else as it is.
    """
    for key, value in items:
        if key.endswith("attn.c_attn.weight"):
            stem = key[: -len("c_attn.weight")]
            for name, part in zip("qkv", value.t().chunk(3, dim=0)):
                yield f"{stem}{name}.weight", part.contiguous()
        elif key.endswith("attn.c_attn.bias"):
            stem = key[: -len("c_attn.bias")]
            for name, part in zip("qkv", value.chunk(3, dim=0)):
                yield f"{stem}{name}.bias", part.contiguous()
        elif key.endswith(_CONV1D_SUFFIXES):
            yield key, value.t().contiguous()
        else:
            yield key, value


def gpt2_merge_c_attn(state_dict: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Inverse of :func:`gpt2_split_c_attn` (for saving an HF-loadable checkpoint)."""
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        if key.endswith(("attn.q.weight", "attn.q.bias")):
            stem, kind = key.rsplit(".", 2)[0], key.rsplit(".", 1)[1]
            parts = [state_dict[f"{stem}.{n}.{kind}"] for n in "qkv"]
            fused = torch.cat(parts, dim=0)
            out[f"{stem}.c_attn.{kind}"] = fused.t().contiguous() if kind == "weight" else fused
        elif key.endswith(("attn.k.weight", "attn.k.bias", "attn.v.weight", "attn.v.bias")):
            continue
        elif key.endswith(_CONV1D_SUFFIXES):
            out[key] = value.t().contiguous()
        else:
            out[key] = value
    return out
