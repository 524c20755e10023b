"""examples/semantic_search.py: the embeddings are all-MiniLM-L6-v2's (checked against transformers), the retrieval
scores count ranks right, and a reduced run prints the three rows."""

from __future__ import annotations

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def search(load_example):
    return load_example("semantic_search")


@pytest.mark.slow
def test_embeddings_match_transformers_mean_pooling(search):
    folder = search.minilm_folder()
    texts = ["Return the current working directory.", "open file", "A much longer sentence about compression."]
    ours = search.Embedder(folder)(texts)
    theirs = transformers.BertModel.from_pretrained(folder).eval()
    batch = transformers.AutoTokenizer.from_pretrained(folder)(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = theirs(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_retrieval_scores_count_ranks(search):
    similarity = torch.tensor([[0.9, 0.1, 0.0], [0.8, 0.5, 0.1], [0.3, 0.2, 0.1]])  # ranks 1, 2, 3
    scores = search.retrieval_scores(similarity)
    assert scores["recall@1"] == pytest.approx(1 / 3)
    assert scores["recall@10"] == 1.0
    assert scores["mrr"] == pytest.approx((1 + 1 / 2 + 1 / 3) / 3)


def test_queries_have_one_right_document(search):
    pairs = search.function_docs(unique_names=True)
    assert len(pairs) > 2000
    assert len({n for n, _ in pairs}) == len({d for _, d in pairs}) == len(pairs)


@pytest.mark.slow
def test_reduced_run(search, capsys):
    result = search.main(["--limit", "60"])
    assert set(result) == {"all-MiniLM-L6-v2", "TF-IDF word 1-2-gram"}
    assert result["all-MiniLM-L6-v2"]["recall@10"] > 0.5  # 60 documents: chance is 1/6
    assert "R@1" in capsys.readouterr().out.strip().splitlines()[-1]
