"""Vocabulary files: BERT ``vocab.txt``, HF tokenizer folders and ``tokenizer.json``."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Literal, overload

from ._basic import is_cjk_character

PathLike = str | os.PathLike[str]


def _is_bert_punctuation(ch: str) -> bool:
    # The original's rule for vocabulary pruning (ASCII punctuation or Unicode P*); kept separate from the
    # tokenizer's generated class so that load_vocab(simplified=True) prunes exactly what it always pruned.
    import unicodedata

    code = ord(ch)
    return 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126 or (
        unicodedata.category(ch).startswith("P")
    )


def _read_vocab_txt(path: PathLike, encoding: str) -> dict[str, int]:
    # One token per line, id = line number, trailing whitespace trimmed: HF's rule. (The original numbered tokens
    # by dict size, so a duplicated line shifted every later id.)
    vocab: dict[str, int] = {}
    with open(path, encoding=encoding) as f:
        for i, line in enumerate(f):
            vocab[line.rstrip()] = i
    return vocab


def check_vocab(token_dict: object) -> dict[str, int]:
    """``token_dict`` as a ``str -> int`` dict.

    Raises:
        TypeError: a key is not a str or a value is not an int (a dict read from JSON may hold string ids:
            convert them with ``{k: int(v) for k, v in d.items()}``).
        ValueError: a negative id.
    """
    vocab = dict(token_dict)  # type: ignore[call-overload]
    for token, i in vocab.items():
        if not isinstance(token, str) or isinstance(i, bool) or not isinstance(i, int):
            raise TypeError(
                f"token_dict must map str tokens to int ids, got {token!r}: {i!r}; convert string ids with "
                "{k: int(v) for k, v in token_dict.items()}"
            )
        if i < 0:
            raise ValueError(f"token_dict maps {token!r} to the negative id {i}")
    return vocab


@overload
def load_vocab(
    dict_path: PathLike, encoding: str = ..., simplified: Literal[False] = ..., startswith: Sequence[str] | None = ...
) -> dict[str, int]: ...
@overload
def load_vocab(
    dict_path: PathLike, encoding: str = ..., *, simplified: Literal[True], startswith: Sequence[str] | None = ...
) -> tuple[dict[str, int], list[int]]: ...
def load_vocab(
    dict_path: PathLike,
    encoding: str = "utf-8",
    simplified: bool = False,
    startswith: Sequence[str] | None = None,
) -> dict[str, int] | tuple[dict[str, int], list[int]]:
    """Load a vocabulary into ``token -> id``.

    Args:
        dict_path: a ``vocab.txt``, a ``tokenizer.json``, or a folder holding either.
        encoding: file encoding.
        simplified: drop redundant tokens (a multi-character token whose stem holds a CJK character or a
            punctuation character, such as ``[unused1]``, ``##中``) and renumber; returns ``keep_tokens`` too, the
            old ids in the new order, for slicing an embedding matrix.
        startswith: with ``simplified``, tokens placed first, in this order (e.g. ``['[PAD]', '[UNK]', '[CLS]',
            '[SEP]']``).

    Returns:
        ``token_dict``, or ``(token_dict, keep_tokens)`` when ``simplified``.

    Raises:
        KeyError: a ``startswith`` token is not in the vocabulary.
    """
    token_dict = read_vocab(dict_path, encoding)[0]
    if not simplified:
        return token_dict
    new_dict: dict[str, int] = {}
    keep_tokens: list[int] = []
    for t in startswith or ():
        if t not in token_dict:
            raise KeyError(f"startswith token {t!r} is not in the vocabulary {os.fspath(dict_path)!r}")
        if t not in new_dict:
            new_dict[t] = len(new_dict)
            keep_tokens.append(token_dict[t])
    for t, old_id in sorted(token_dict.items(), key=lambda kv: kv[1]):
        if t in new_dict:
            continue
        stem = t[2:] if t[:2] == "##" else t
        if len(t) > 1 and any(is_cjk_character(c) or _is_bert_punctuation(c) for c in stem):
            continue
        new_dict[t] = len(new_dict)
        keep_tokens.append(old_id)
    return new_dict, keep_tokens


def read_vocab(path: PathLike, encoding: str = "utf-8") -> tuple[dict[str, int], dict[str, object]]:
    """Vocabulary plus the tokenizer settings found next to it.

    The settings dict may hold ``do_lower_case`` and ``strip_accents`` (from ``tokenizer_config.json`` or a
    ``tokenizer.json`` BertNormalizer) and ``special_tokens`` (cls/sep/unk/pad/mask names).

    Raises:
        FileNotFoundError: no vocabulary at ``path``.
    """
    path = os.fspath(path)
    settings: dict[str, object] = {}
    if os.path.isdir(path):
        folder = path
        txt = os.path.join(folder, "vocab.txt")
        js = os.path.join(folder, "tokenizer.json")
        if os.path.exists(txt):
            vocab = _read_vocab_txt(txt, encoding)
        elif os.path.exists(js):
            vocab, settings = _read_tokenizer_json(js)
        else:
            raise FileNotFoundError(f"no vocab.txt or tokenizer.json in {folder!r}")
        cfg_path = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                cfg = json.load(f)
            for key in ("do_lower_case", "strip_accents"):
                if cfg.get(key) is not None:
                    settings[key] = cfg[key]
            names = {
                k: cfg[f"{k}_token"] for k in ("cls", "sep", "unk", "pad", "mask") if isinstance(cfg.get(f"{k}_token"), str)
            }
            if names:
                settings["special_tokens"] = names
        return vocab, settings
    if path.endswith(".json"):
        return _read_tokenizer_json(path)
    return _read_vocab_txt(path, encoding), settings


def _read_tokenizer_json(path: str) -> tuple[dict[str, int], dict[str, object]]:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    model = data.get("model") or {}
    if model.get("type") != "WordPiece":
        raise ValueError(f"{path!r} holds a {model.get('type')!r} model; Tokenizer reads WordPiece vocabularies only")
    vocab = dict(model["vocab"])
    settings: dict[str, object] = {}
    norm = data.get("normalizer") or {}
    if norm.get("type") == "BertNormalizer":
        settings["do_lower_case"] = bool(norm.get("lowercase", True))
        if norm.get("strip_accents") is not None:
            settings["strip_accents"] = norm["strip_accents"]
    return vocab, settings
