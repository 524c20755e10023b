"""Tiny HF-format model folders written by ``transformers`` (random weights, fixed seed) and a WordPiece vocab.

Used by the encode tests and the sharded-encoding worker; not a test module.
"""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("the a an is are was be of to in on at for with by and or not it this that as from can will do "
         "model text vector encode token batch pad short long sentence word line file rank merge search "
         "quick brown fox jumps over lazy dog cat runs fast slow red blue green one two three four five").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz", *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"),
         ".", ",", "!", "?", *WORDS]

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat runs.",
    "one two three four five, one two three four five, one two three.",
    "Merge the file by rank!",
    "short",
    "Encode a sentence with the model and search the vector.",
    "red blue green",
    "Is this the long line or the short line?",
]


def _config(family: str, **sizes: int):  # noqa: ANN202 - a transformers config of the family
    import transformers

    common = dict(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                  intermediate_size=37, max_position_embeddings=64, type_vocab_size=2, **sizes)
    if family == "bert":
        return transformers.BertConfig(**common), transformers.BertModel
    if family == "roberta":
        return transformers.RobertaConfig(**{**common, "max_position_embeddings": 70}, pad_token_id=0), transformers.RobertaModel
    if family == "albert":
        return transformers.AlbertConfig(**common, embedding_size=16), transformers.AlbertModel
    if family == "electra":
        return transformers.ElectraConfig(**common, embedding_size=16), transformers.ElectraModel
    raise ValueError(family)


def write_folder(folder: Path, family: str = "bert", seed: int = 0, *, st_files: bool = True) -> Path:
    """Save a random tiny ``family`` model with ``transformers``, plus ``vocab.txt`` and sentence-transformers files."""
    torch.manual_seed(seed)
    config, cls = _config(family)
    model = cls(config).eval()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folder))
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    if st_files:
        (folder / "modules.json").write_text(
            '[{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},'
            ' {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},'
            ' {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}]')
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text('{"word_embedding_dimension": 32, "pooling_mode_mean_tokens": true}')
        (folder / "sentence_bert_config.json").write_text('{"max_seq_length": 48, "do_lower_case": false}')
    return folder
