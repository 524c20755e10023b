"""bert4torch.models: ``build_transformer_model`` and the model zoo.

Family classes (``BERT``, ``ALBERT``, ``GPT2``, ...) load lazily from the registry (``MODELS``), so importing this
package costs only the core. ``BaseModel`` (and ``BaseModelDP``/``BaseModelDDP``) are the trainer's classes: they
resolve to ``bert4torch.trainer.BaseModel`` when b4t-trainer is installed, and otherwise raise ImportError naming
``pip install b4t-trainer``.

Loading is strict: see ``WeightLoadingError``, ``CheckpointError``, ``ConfigError`` and ``LoadReport``.

Text in, vectors out: ``SentenceEncoder`` (needs b4t-tokenizers, the ``tokenizers`` extra), the padding-free forward
of the BERT-style families (``UnpaddedEncoder``, ``predict_unpadded``, ``unpadded_support``) and ``merge_shards``.
"""

from __future__ import annotations

__version__ = "0.1.0"

from importlib import import_module
from typing import Any

from ._build import build_transformer_model
from ._config import ConfigError, EncoderConfig
from ._encoder import BERT_BASE, LM_Mask, UniLM_Mask, extend_with_language_model, extend_with_unified_language_model
from ._loading import LoadReport, WeightLoadingError, load_weights
from ._registry import MODELS, resolve_model
from ._weights import CheckpointError, invert_weight_map, load_checkpoint

# public class name -> module (family files); resolved on first attribute access
_LAZY_CLASSES: dict[str, str] = {}
for _target in MODELS.values():
    _module, _, _cls = _target.partition(":")
    _LAZY_CLASSES.setdefault(_cls, _module)
# every family's config class, and the decoder cache type and protocol (the contract of bert4torch.generation)
_LAZY_CLASSES.update({
    "AlbertConfig": "albert", "BartConfig": "bart", "BertConfig": "bert", "DebertaV2Config": "deberta_v2",
    "ElectraConfig": "electra", "ErnieConfig": "ernie", "GauAlphaConfig": "gau_alpha", "GPTConfig": "gpt",
    "GPT2Config": "gpt2", "GPT2MLConfig": "gpt2_ml", "LlamaConfig": "llama", "NezhaConfig": "nezha",
    "Qwen2Config": "qwen2", "RobertaConfig": "roberta", "RoFormerConfig": "roformer", "RoFormerV2Config": "roformer",
    "T5Config": "t5", "T5v11Config": "t5", "MT5v11Config": "t5", "TransformerConfig": "transformer",
    "TransformerXLConfig": "transformer_xl", "UIEConfig": "uie", "XLNetConfig": "xlnet",
    "KVCache": "_cache", "DecoderCache": "_cache",
})
# text in, vectors out: the sentence encoder, its padding-free forward and the shard merge of multi-process runs
_LAZY_CLASSES.update({
    "SentenceEncoder": "_sentence", "merge_shards": "_shards", "UnpaddedEncoder": "_unpadded",
    "predict_unpadded": "_unpadded", "unpadded_support": "_unpadded",
})

# the original's models.py exposed the trainer classes; they now live in b4t-trainer and resolve lazily
_TRAINER_NAMES = ("BaseModel", "BaseModelDP", "BaseModelDDP")

_CORE_ALL = [
    "BERT_BASE",
    "BaseModel",
    "BaseModelDDP",
    "BaseModelDP",
    "BertConfig",
    "CheckpointError",
    "ConfigError",
    "EncoderConfig",
    "LM_Mask",
    "LoadReport",
    "MODELS",
    "UniLM_Mask",
    "WeightLoadingError",
    "build_transformer_model",
    "extend_with_language_model",
    "extend_with_unified_language_model",
    "invert_weight_map",
    "load_checkpoint",
    "load_weights",
    "resolve_model",
]
# every class registered in MODELS is public too (the decoder families appear here when they register)
__all__ = sorted({*_CORE_ALL, *_LAZY_CLASSES})


def __getattr__(name: str) -> Any:
    if name in _TRAINER_NAMES:
        try:
            trainer = import_module("bert4torch.trainer")
        except ImportError as exc:
            raise ImportError(
                f"bert4torch.models.{name} is the trainer's class; install it with `pip install b4t-trainer`"
            ) from exc
        try:
            return getattr(trainer, name)
        except AttributeError as exc:
            raise ImportError(f"bert4torch.trainer has no {name}; upgrade with `pip install -U b4t-trainer`") from exc
    if name in _LAZY_CLASSES:
        value = getattr(import_module(f"{__name__}.{_LAZY_CLASSES[name]}"), name)
        globals()[name] = value
        return value
    # the classes of application='lm'/'unilm', rebuilt by name when a pickle refers to them
    for prefix, extend in (("UnifiedLanguageModel", extend_with_unified_language_model),
                           ("LanguageModel", extend_with_language_model)):
        if name.startswith(prefix) and len(name) > len(prefix):
            base = name[len(prefix):]
            return extend(globals()[base] if base in globals() else __getattr__(base))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
