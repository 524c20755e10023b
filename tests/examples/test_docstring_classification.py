"""The main job (``hatch run demo``) in a reduced form: it trains, logs, and saves a folder transformers loads."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("sklearn")
pytest.importorskip("bert4torch.trainer")
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def example(load_example):
    return load_example("docstring_classification")


def test_data_is_deduplicated_and_unambiguous(example):
    pairs = example.load_docstrings()
    texts = [t for t, _ in pairs]
    assert len(texts) == len(set(texts)) > 2000
    assert len({name for _, name in pairs}) == 10
    train, valid, test = example.split(pairs)
    assert not {t for t, _ in train} & {t for t, _ in test}


@pytest.mark.slow
def test_main_job_trains_and_saves_a_folder_transformers_loads(example, tmp_path, capsys):
    result = example.main(["--limit", "160", "--epochs", "1", "--maxlen", "24", "--out", str(tmp_path)])
    assert "val_acc" in (tmp_path / "train.log").read_text()
    out = capsys.readouterr().out
    assert "val_acc:" in out  # the validation accuracy after each epoch
    last = out.strip().splitlines()[-1]  # one final line: test accuracy beside both baselines
    assert "test accuracy" in last and "word 1-2-gram" in last and "char 2-5-gram" in last
    assert set(result) == {"test_acc", "word 1-2-gram", "char 2-5-gram"}
    assert (tmp_path / "train.log").stat().st_size > 0
    assert any((tmp_path / "tb").iterdir())

    folder = tmp_path / "hf_model"
    theirs = transformers.AutoModelForSequenceClassification.from_pretrained(folder).eval()
    ours = example.Model(example.minilm_folder(), theirs.config.num_labels)
    ours.load_weights(tmp_path / "best_model.pt")
    ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 102], [101, 7099, 2951, 102, 0, 0]])
    segments = torch.zeros_like(ids)
    expected = theirs(input_ids=ids, attention_mask=(ids > 0).long(), token_type_ids=segments).logits
    got = ours.predict([ids, segments])
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
