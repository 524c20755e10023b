"""The ``model=`` name -> family class table.

One line per name: ``"bert": "bert:BERT"`` means class ``BERT`` in module ``bert4torch.models.bert``. Classes are
imported on first use, so a family's import cost is paid only by its users. Engineers adding a family append their
lines (append-only; do not reorder or remove others'). Names are matched lower-cased; ``resolve_model`` raises a
``ValueError`` naming the closest valid name for an unknown one.
"""

from __future__ import annotations

import importlib

from ._config import closest

__all__ = ["MODELS", "resolve_model"]

MODELS: dict[str, str] = {
    # encoder families
    "bert": "bert:BERT",
    "roberta": "roberta:RoBERTa",
    "encoder": "bert:Encoder",
    "albert": "albert:ALBERT",
    "albert_unshared": "albert:ALBERT_Unshared",
    "electra": "electra:ELECTRA",
    "nezha": "nezha:NEZHA",
    "roformer": "roformer:RoFormer",
    "roformer_v2": "roformer:RoFormerV2",
    "ernie": "ernie:ERNIE",
    "deberta_v2": "deberta_v2:DebertaV2",
    "gau_alpha": "gau_alpha:GAU_alpha",
    "uie": "uie:UIE",
    # decoder and encoder-decoder families
    "gpt2": "gpt2:GPT2",
    "llama": "llama:Llama",
    "qwen2": "qwen2:Qwen2",
    "t5": "t5:T5",
    "t5.1.0": "t5:T5",
    "t5.1.1": "t5:T5v11",
    "mt5.1.1": "t5:MT5v11",
    "t5_encoder": "t5:T5Encoder",
    "t5.1.0_encoder": "t5:T5Encoder",
    "t5.1.1_encoder": "t5:T5v11Encoder",
    "mt5.1.1_encoder": "t5:MT5v11Encoder",
    "t5_decoder": "t5:T5Decoder",
    "t5.1.0_decoder": "t5:T5Decoder",
    "t5.1.1_decoder": "t5:T5v11Decoder",
    "mt5.1.1_decoder": "t5:MT5v11Decoder",
    "bart": "bart:BART",
    "transformer": "transformer:Transformer",
    "decoder": "transformer:Decoder",
    "gpt": "gpt:GPT",
    "xlnet": "xlnet:XLNET",
    "gpt2_ml": "gpt2_ml:GPT2_ML",
    "transformer_xl": "transformer_xl:Transformer_XL",
}


def resolve_model(name: str) -> type:
    """Return the class registered for ``name`` (case-insensitive).

    Raises:
        ValueError: unknown name, with the closest valid one.
    """
    key = name.lower()
    if key not in MODELS:
        close = closest(key, MODELS, cutoff=0.3)
        hint = f"did you mean {close!r}?" if close else f"valid names: {', '.join(sorted(MODELS))}"
        raise ValueError(f"unknown model={name!r}; {hint}")
    module_name, _, class_name = MODELS[key].partition(":")
    module = importlib.import_module(f"bert4torch.models.{module_name}")
    return getattr(module, class_name)
