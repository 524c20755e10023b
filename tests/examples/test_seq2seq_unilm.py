"""examples/seq2seq_unilm.py: the UniLM starts from the real MiniLM weights with a clean new head, the loss reads the
target only, and a reduced run trains and decodes with beam search."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("bert4torch.trainer")
pytest.importorskip("bert4torch.generation")
pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def seq2seq(load_example):
    return load_example("seq2seq_unilm")


def test_word_f1(seq2seq):
    assert seq2seq.word_f1("get terminal size", "get terminal size") == 1.0
    assert seq2seq.word_f1("get size", "get terminal size") == pytest.approx(0.8)
    assert seq2seq.word_f1("", "close") == 0.0


def test_loss_reads_the_target_positions_only(seq2seq):
    token_ids = torch.tensor([[2, 7, 8, 3, 9, 3, 0]])
    segment_ids = torch.tensor([[0, 0, 0, 0, 1, 1, 0]])
    scores = torch.randn(1, 7, 12)
    loss = seq2seq.TargetCrossEntropy(ignore_index=0)((None, scores), (token_ids, segment_ids))
    # position 3 predicts token 9, position 4 predicts the final [SEP] (3); nothing else counts
    expected = torch.nn.functional.cross_entropy(scores[0, [3, 4]], torch.tensor([9, 3]))
    torch.testing.assert_close(loss, expected)


@pytest.mark.slow
def test_unilm_keeps_the_encoder_and_starts_a_clean_head(seq2seq):
    folder = seq2seq.minilm_folder()
    model = seq2seq.build_unilm(folder)
    assert torch.count_nonzero(model.mlmBias) == 0
    plain = seq2seq.build_transformer_model(folder / "config.json", folder / "model.safetensors")
    torch.testing.assert_close(model.embeddings.word_embeddings.weight, plain.embeddings.word_embeddings.weight)


@pytest.mark.slow
def test_reduced_run_trains_and_decodes(seq2seq, tmp_path, capsys):
    result = seq2seq.main(["--limit", "48", "--epochs", "1", "--beam", "2", "--target-len", "4", "--verbose", "0",
                           "--out", str(tmp_path)])
    assert set(result) == {"UniLM beam search", "TF-IDF nearest name"}
    assert all(0 <= r[k] <= 1 for r in result.values() for k in ("exact", "word_f1"))
    assert (tmp_path / "best_model.pt").is_file()
    assert "word F1" in capsys.readouterr().out.strip().splitlines()[-1]
