"""Where each of the original ``bert4torch.snippets`` names lives now: name -> (module, distribution, extra)."""

from __future__ import annotations

_TOKENIZERS = ("bert4torch.tokenizers", "b4t-tokenizers", "tokenizers")
_LAYERS = ("bert4torch.layers", "b4t-models", "models")
_TRAINER = ("bert4torch.trainer", "b4t-trainer", "train")
_GENERATION = ("bert4torch.generation", "b4t-generation", "generation")
_SERVING = ("bert4torch.serving", "b4t-serving", "serving")

_HOMES: dict[tuple[str, str, str], tuple[str, ...]] = {
    _TOKENIZERS: (
        "text_segmentate",
        "truncate_sequences",
        "merge_segmentate",
        "text_augmentation",
        "lowercase_and_normalize",
        "sequence_padding",
        "parallel_apply",
        "parallel_apply_generator",
    ),
    _LAYERS: ("get_pool_emb", "get_sinusoid_encoding_table", "create_position_ids_from_input_ids"),
    _TRAINER: (
        "Callback",
        "History",
        "ProgbarLogger",
        "Logger",
        "Tensorboard",
        "EarlyStopping",
        "ReduceLROnPlateau",
        "TerminateOnNaN",
        "Checkpoint",
        "Evaluator",
        "LambdaCallback",
        "AdversarialTraining",
        "FGM",
        "PGD",
        "VAT",
        "ListDataset",
        "IterDataset",
        "seed_everything",
    ),
    _GENERATION: ("AutoRegressiveDecoder",),
    _SERVING: ("WebServing",),
}

EXPORTS: dict[str, tuple[str, str, str]] = {name: home for home, names in _HOMES.items() for name in names}
