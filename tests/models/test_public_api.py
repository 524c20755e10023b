"""Pinned public API of bert4torch.models, bert4torch.layers and bert4torch.activations, and the lazy BaseModel."""

from __future__ import annotations

import subprocess
import sys

import bert4torch.activations
import bert4torch.layers
import bert4torch.models
from bert4torch.models._registry import MODELS

# families owned by the decoder work append registry lines; their classes join __all__ automatically
_DECODER_MODULES = {"gpt", "gpt2", "gpt2_ml", "t5", "bart", "xlnet", "transformer_xl", "transformer", "llama", "qwen2"}

EXPECTED_ALL_MODELS = [
    "ALBERT", "ALBERT_Unshared", "BERT", "BERT_BASE", "BaseModel", "BaseModelDDP", "BaseModelDP", "BertConfig", "CheckpointError", "ConfigError",
    "DebertaV2", "ELECTRA", "ERNIE", "Encoder", "EncoderConfig", "GAU_alpha", "LM_Mask", "LoadReport", "MODELS", "NEZHA",
    "RoBERTa", "RoFormer", "RoFormerV2", "UIE", "UniLM_Mask", "WeightLoadingError", "build_transformer_model",
    "extend_with_language_model", "extend_with_unified_language_model", "invert_weight_map", "load_checkpoint",
    "load_weights", "resolve_model",
    # every family's config class, the decoder cache and its protocol
    "AlbertConfig", "BartConfig", "DebertaV2Config", "ElectraConfig", "ErnieConfig", "GauAlphaConfig", "GPTConfig",
    "GPT2Config", "GPT2MLConfig", "LlamaConfig", "NezhaConfig", "Qwen2Config", "RobertaConfig", "RoFormerConfig",
    "RoFormerV2Config", "T5Config", "T5v11Config", "MT5v11Config", "TransformerConfig", "TransformerXLConfig",
    "UIEConfig", "XLNetConfig", "KVCache", "DecoderCache",
    # text in, vectors out
    "SentenceEncoder", "UnpaddedEncoder", "merge_shards", "predict_unpadded", "unpadded_support",
]
EXPECTED_ALL_LAYERS = [
    "BERT_WHITENING", "BertEmbeddings", "BertLayer", "CRF", "ConvLayer", "EfficientGlobalPointer", "GatedAttentionUnit",
    "GlobalPointer", "Identity", "LayerNorm", "MixUp", "MultiHeadAttentionLayer", "PositionWiseFeedForward",
    "RelativePositionsEncoding", "RelativePositionsEncodingDebertaV2", "RelativePositionsEncodingT5",
    "RoPEPositionEncoding", "SinusoidalPositionEncoding", "TplinkerHandshakingKernel", "FUSE_MAX_ROWS", "clear_fused_cache",
    "fused_linear",
    "create_position_ids_from_input_ids", "get_pool_emb", "get_sinusoid_encoding_table", "t5_relative_position_bucket",
    # the blocks the decoder families share with the encoders
    "POST_NORM", "PRE_NORM", "RMSNorm", "RotaryAngles", "T5PositionBias", "TransformerLayer", "inverse_frequencies",
    "rms_norm", "sinusoid", "uninitialized_embedding",
]
EXPECTED_ALL_ACTIVATIONS = ["ACT2FN", "gelu", "gelu_fast", "gelu_new", "get_activation", "linear_act", "mish", "quick_gelu", "swish"]


def test_all_is_pinned():
    decoder = {target.partition(":")[2] for target in MODELS.values() if target.partition(":")[0] in _DECODER_MODULES}
    assert sorted(bert4torch.models.__all__) == sorted(set(EXPECTED_ALL_MODELS) | decoder)
    assert sorted(bert4torch.layers.__all__) == sorted(EXPECTED_ALL_LAYERS)
    assert sorted(bert4torch.activations.__all__) == sorted(EXPECTED_ALL_ACTIVATIONS)


def test_every_public_name_resolves():
    for module in (bert4torch.models, bert4torch.layers, bert4torch.activations):
        for name in module.__all__:
            if not name.startswith("BaseModel"):
                assert getattr(module, name) is not None, (module.__name__, name)


def test_base_model_resolves_lazily_to_the_trainer_or_names_the_pip_command():
    code = (
        "import sys\n"
        "sys.modules['bert4torch.trainer'] = None  # simulate b4t-trainer not installed\n"
        "import bert4torch.models as m\n"
        "try:\n    m.BaseModel\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install b4t-trainer" in out
    try:
        import bert4torch.trainer as trainer
    except ImportError:
        return
    assert bert4torch.models.BaseModel is trainer.BaseModel
    assert bert4torch.models.BaseModelDP is trainer.BaseModelDP


def test_importing_models_does_not_import_transformers():
    code = "import sys, bert4torch.models, bert4torch.layers; assert 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_resolves_and_the_cache_meets_its_protocol():
    import torch

    for name in bert4torch.models.__all__:
        if name not in ("BaseModel", "BaseModelDP", "BaseModelDDP"):
            assert getattr(bert4torch.models, name) is not None, name
    models = bert4torch.models
    cache = models.KVCache(self_attn=(), cross_attn=(), key_mask=torch.ones(2, 3, dtype=torch.bool))
    assert isinstance(cache, models.DecoderCache)
