"""Tiny data files in the formats the original's examples parse, each at the path the example opens.

Every writer is registered under a folder below ``Projects/data/corpus/`` (the examples' data root) and writes
every file of that data set there; :func:`make` builds one. The text is real (see :mod:`corpus`); the sizes are a
dozen lines, enough for two or three batches of two.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import corpus

WRITERS: dict[str, Callable[[Path], None]] = {}
N = 12  # lines per split


def dataset(*folders: str) -> Callable[[Callable[[Path], None]], Callable[[Path], None]]:
    def register(fn: Callable[[Path], None]) -> Callable[[Path], None]:
        for folder in folders:
            WRITERS[folder] = fn
        return fn

    return register


def make(root: Path, folder: str) -> Path:
    """Write data set ``folder`` under ``root/Projects/data/corpus`` (once); returns its path."""
    path = root / "Projects" / "data" / "corpus" / folder
    if not (path / ".done").exists():
        path.mkdir(parents=True, exist_ok=True)
        WRITERS[folder](path)
        (path / ".done").touch()
    return path


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def json_lines(path: Path, rows: list[dict]) -> None:
    write_lines(path, [json.dumps(r, ensure_ascii=False) for r in rows])


def _splits(n: int = N) -> dict[str, slice]:
    return {"train": slice(0, n), "valid": slice(n, n + n // 2), "test": slice(n + n // 2, 2 * n)}


@dataset("sentence_classification/sentiment")
def sentiment(path: Path) -> None:
    """``text<TAB>label`` lines."""
    rows = corpus.reviews(2 * N)
    for split, part in _splits().items():
        write_lines(path / f"sentiment.{split}.data", [f"{t}\t{y}" for t, y in rows[part]])


@dataset("ner/china-people-daily-ner-corpus")
def people_daily(path: Path) -> None:
    """``char TAG`` lines (BIO over PER/LOC/ORG), sentences separated by a blank line."""
    sents = corpus.tagged_sentences(2 * N, maxchars=40)
    for split, part in {"train": slice(0, N), "dev": slice(N, 2 * N), "test": slice(N, 2 * N)}.items():
        blocks = ["\n".join(corpus.bio_lines(s)) for s in sents[part]]
        (path / f"example.{split}").write_text("\n\n".join(blocks), encoding="utf-8")


def _pairs(n: int, scale: int = 1) -> list[str]:
    """``text1<TAB>text2<TAB>label``: a review against a shortened copy (similar) or the next review (not)."""
    rows = corpus.reviews(n + 1, maxchars=40)
    out = []
    for i in range(n):
        same = i % 2 == 0
        other = rows[i][0][: max(4, len(rows[i][0]) * 2 // 3)] if same else rows[i + 1][0]
        out.append(f"{rows[i][0]}\t{other}\t{(scale if same else 0)}")
    return out


@dataset("sentence_embedding")
def sentence_embedding(path: Path) -> None:
    """The five Chinese STS tasks, ``text1<TAB>text2<TAB>label`` (STS-B scores 0-5), and CNSD's jsonl."""
    for task in ("ATEC", "BQ", "LCQMC", "PAWSX", "STS-B"):
        lines = _pairs(2 * N, 5 if task == "STS-B" else 1)
        for split, part in _splits().items():
            write_lines(path / task / f"{task}.{split}.data", lines[part])
    for name in ("cnsd-snli", "cnsd-mnli"):
        rows = corpus.reviews(N, maxchars=30)
        labels = ["entailment", "neutral", "contradiction"]
        json_lines(path / "XNLI-MT-1.0" / "cnsd" / name / f"{name}_train.jsonl",
                   [{"sentence1": t, "sentence2": t[: len(t) // 2 + 1], "gold_label": labels[i % 3]}
                    for i, (t, _) in enumerate(rows)])


def _spo_rows(n: int, schema: str) -> list[dict]:
    """Relation triples between the entities of People's Daily sentences."""
    rows = []
    for s in corpus.tagged_sentences(4 * n, maxchars=50):
        ents = corpus.entities(s)
        if len(ents) < 2:
            continue
        (subj, st), (obj, ot) = ents[0], ents[1]
        spo = {"predicate": f"{st}-{ot}", "object_type": ot, "subject_type": st, "object": obj, "subject": subj}
        if schema == "chip":
            spo["object"] = {"@value": obj}
            spo["object_type"] = {"@value": ot}
        rows.append({"text": corpus.plain(s), "spo_list": [spo]})
        if len(rows) == n:
            break
    return rows


def _schemas(rows: list[dict]) -> list[dict]:
    seen = {}
    for r in rows:
        for spo in r["spo_list"]:
            ot = spo["object_type"]["@value"] if isinstance(spo["object_type"], dict) else spo["object_type"]
            p = spo["predicate"]
            seen[p] = {"object_type": ot, "predicate": p, "subject_type": spo["subject_type"]}
    return list(seen.values())


@dataset("relation_extraction/BD_Knowledge_Extraction")
def baidu_ie(path: Path) -> None:
    """``{'text', 'spo_list': [{'subject', 'predicate', 'object', ...}]}`` lines, and ``all_50_schemas``."""
    rows = _spo_rows(N + N // 2, "baidu")
    json_lines(path / "train_data.json", rows[:N])
    json_lines(path / "dev_data.json", rows[N:])
    json_lines(path / "all_50_schemas", _schemas(rows))


@dataset("relation_extraction/chip2020")
def chip2020(path: Path) -> None:
    rows = _spo_rows(N + N // 2, "baidu")
    json_lines(path / "train_data.json", rows[:N])
    json_lines(path / "val_data.json", rows[N:])
    json_lines(path / "53_schemas.json", _schemas(rows))


@dataset("seq2seq/summary/csl_title_public")
def csl(path: Path) -> None:
    """CSL titles: ``{'title', 'abst'}`` lines; the abstract is a review, the title its first clause."""
    rows = corpus.reviews(2 * N, maxchars=60)
    data = [{"title": t.split("，")[0][:20], "abst": t, "keyword": [], "discipline": "", "id": i}
            for i, (t, _) in enumerate(rows)]
    json_lines(path / "csl_title_train.json", data[:N])
    json_lines(path / "csl_title_dev.json", data[N: N + 4])
    json_lines(path / "csl_title_test.json", data[N + 4: N + 8])


@dataset("qa")
def qa(path: Path) -> None:
    """WebQA/SogouQA: ``[{'question', 'passages': [{'passage', 'answer'}]}]`` as one JSON document each."""
    sents = corpus.tagged_sentences(2 * N, maxchars=50)
    items = []
    for s in sents:
        ents = corpus.entities(s)
        answer = ents[0][0]
        items.append({"id": len(items), "question": f"{answer}是什么", "passages": [
            {"passage": corpus.plain(s), "answer": answer}, {"passage": corpus.plain(sents[0]), "answer": ""}]})
    (path / "WebQA.json").write_text(json.dumps(items[:N], ensure_ascii=False), encoding="utf-8")
    (path / "SogouQA.json").write_text(json.dumps(items[N:], ensure_ascii=False), encoding="utf-8")
    (path / "CIPS-SOGOU").mkdir(exist_ok=True)


@dataset("seq2seq/ape210k")
def ape210k(path: Path) -> None:
    """Math word problems: ``{'original_text', 'equation', 'ans'}`` lines (equations that eval)."""
    rows = []
    for i in range(2 * N):
        a, b = 3 + i, 2 + i % 5
        rows.append({"id": str(i), "original_text": f"小明有{a}个苹果，又买了{b}个，一共有几个？",
                     "segmented_text": "", "equation": f"x={a}+{b}", "ans": str(a + b)})
    json_lines(path / "train.ape.json", rows[:N])
    json_lines(path / "valid.ape.json", rows[N: N + 4])
    json_lines(path / "test.ape.json", rows[N + 4: N + 8])


@dataset("sentence_classification/THUCNews")
def thucnews(path: Path) -> None:
    """One news article per file: the title on the first line, then the body."""
    for i, (t, _) in enumerate(corpus.reviews(N)):
        write_lines(path / ("体育" if i % 2 else "财经") / f"{i}.txt", [t.split("，")[0][:20], t])


@dataset("sentence_classification/CLUEdataset/iflytek")
def iflytek(path: Path) -> None:
    """``{'label', 'label_des', 'sentence'}`` lines (iflytek has 119 labels; these use a few)."""
    reviews = corpus.reviews(2 * N)
    rows = [{"label": str(i % 5), "label_des": f"类{i % 5}", "sentence": t} for i, (t, _) in enumerate(reviews)]
    json_lines(path / "train.json", rows[:N])
    json_lines(path / "dev.json", rows[N:])


@dataset("pretrain")
def pretrain(path: Path) -> None:
    """Plain novel text (``金庸小说/*.txt``), sentences ending in 。, paragraphs separated by two spaces."""
    text = "  ".join(corpus.plain(s).rstrip("。") + "。" for s in corpus.tagged_sentences(2 * N))
    write_lines(path / "金庸小说" / "book.txt", [text])
    write_lines(path / "corpus.txt", [corpus.plain(s) for s in corpus.tagged_sentences(2 * N)])


@dataset("kg/KgCLUE")
def kgclue(path: Path) -> None:
    """KgCLUE: questions with ``'subject（mention） ||| predicate ||| object'`` answers, and the knowledge base."""
    rows, kb = [], []
    for s in corpus.tagged_sentences(2 * N, maxchars=40):
        ent = corpus.entities(s)[0][0]
        obj = corpus.plain(s)[:8]
        kb.append(f"{ent}（{ent}）\t描述\t{obj}")
        rows.append({"id": len(rows), "question": f"{ent}的描述是什么", "answer": f"{ent}（{ent}） ||| 描述 ||| {obj}"})
    json_lines(path / "train.json", rows[:N])
    json_lines(path / "dev.json", rows[N: N + 4])
    json_lines(path / "test_public.json", rows[N + 4: N + 8])
    write_lines(path / "Knowledge_20211215.txt", kb)


def similarity_json(path: Path) -> None:
    """SimBERT's ``{'text', 'synonyms': [...]}`` lines (``../datasets/data_similarity.json``)."""
    rows = [{"text": t, "synonyms": [t[: len(t) // 2 + 2], t[::-1][:10]]} for t, _ in corpus.reviews(N, maxchars=30)]
    json_lines(path, rows)
