"""SentenceEncoder: every pooling strategy against get_pool_emb on the padded forward, sentence-transformers parity on
all-MiniLM-L6-v2, bad input, truncation, streaming, files, search, and build_transformer_model on a folder."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from bert4torch.layers import get_pool_emb
from bert4torch.models import SentenceEncoder, build_transformer_model


@pytest.fixture(scope="module")
def encoder(tiny_folder: Path) -> SentenceEncoder:
    return SentenceEncoder(tiny_folder)


def padded_reference(folder: Path, texts: list[str], pooling: str, custom_layer=None) -> torch.Tensor:  # noqa: ANN001
    """Vectors from the padded forward (all layers + pooler) and get_pool_emb, independent of the packed path."""
    from bert4torch.tokenizers import Tokenizer, sequence_padding

    model = build_transformer_model(checkpoint_path=folder, output_all_encoded_layers=True, with_pool=True,
                                    add_trainer=False)
    ids, segments = Tokenizer(folder).encode(texts)
    ids, segments = torch.tensor(sequence_padding(ids)), torch.tensor(sequence_padding(segments))
    layers, pooled = model.predict([ids, segments])
    return get_pool_emb(layers, pooled, (ids != 0).long(), pooling, custom_layer)


def test_folder_defaults_come_from_sentence_transformers_files(encoder: SentenceEncoder) -> None:
    assert (encoder.pooling, encoder.normalize, encoder.max_length, encoder.dim) == ("mean", True, 48, 32)


@pytest.mark.parametrize(("pooling", "custom_layer"), [
    ("cls", None), ("mean", None), ("last-avg", None), ("max", None), ("last-max", None),
    ("first-last-avg", None), ("custom", [0, 2]), ("custom", 1), ("pooler", None),
])
def test_every_pooling_matches_get_pool_emb_on_the_padded_forward(encoder, tiny, tiny_folder, pooling,  # noqa: ANN001
                                                                  custom_layer) -> None:
    got = encoder.encode(tiny.SENTENCES, pooling=pooling, normalize=False, custom_layer=custom_layer,
                         output="torch", max_batch_tokens=24)
    expected = padded_reference(tiny_folder, tiny.SENTENCES, pooling, custom_layer)
    assert got.shape == expected.shape == (len(tiny.SENTENCES), 32)
    assert (got - expected).abs().max().item() <= 1e-5


def test_normalize_output_and_single_text(encoder, tiny) -> None:  # noqa: ANN001
    vectors = encoder.encode(tiny.SENTENCES)
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    one = encoder.encode(tiny.SENTENCES[2], output="torch")
    assert one.shape == (32,) and torch.allclose(one, torch.from_numpy(vectors[2]), atol=1e-6)


def test_batches_windows_and_order_do_not_change_the_vectors(tiny_folder: Path, tiny) -> None:  # noqa: ANN001
    texts = [tiny.SENTENCES[i % 8] + " " + "one " * (i % 5) for i in range(40)]
    whole = SentenceEncoder(tiny_folder).encode(texts)
    small = SentenceEncoder(tiny_folder, window=7, max_batch_tokens=30).encode(iter(texts), batch_size=3)
    np.testing.assert_allclose(small, whole, atol=1e-6)
    solo = np.stack([SentenceEncoder(tiny_folder).encode(t) for t in texts[:5]])
    np.testing.assert_allclose(solo, whole[:5], atol=1e-6)


def test_one_window_is_tokenized_without_a_thread(tiny_folder: Path, tiny, monkeypatch) -> None:  # noqa: ANN001
    # A serving batch or a query is one window: starting a thread for it would only add latency.
    import bert4torch.models._sentence as sentence

    started = []

    class Recording(sentence.ThreadPoolExecutor):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            started.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(sentence, "ThreadPoolExecutor", Recording)
    enc = SentenceEncoder(tiny_folder, window=4)
    one = enc.encode(tiny.SENTENCES[:4])
    assert started == []
    several = enc.encode(tiny.SENTENCES[:9])  # three windows: the later ones are tokenized while the first computes
    assert started == [1]
    np.testing.assert_allclose(several[:4], one, atol=1e-6)


def test_bf16_stays_close(encoder, tiny) -> None:  # noqa: ANN001
    fp32 = encoder.encode(tiny.SENTENCES)
    bf16 = encoder.encode(tiny.SENTENCES, dtype="bfloat16")
    assert bf16.dtype == np.float32
    assert (fp32 * bf16).sum(1).min() >= 0.999


def test_empty_input_has_the_right_width(encoder) -> None:  # noqa: ANN001
    assert encoder.encode([]).shape == (0, 32)
    assert encoder.encode([], output="torch").shape == (0, 32)
    assert encoder.encode(iter(())).shape == (0, 32)


@pytest.mark.parametrize(("texts", "index"), [(["fine", None], 1), (["a", "b", 3], 2), ([b"bytes"], 0)])
def test_non_strings_raise_type_error_naming_the_index(encoder, texts, index) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match=rf"texts\[{index}\]"):
        encoder.encode(texts)


def test_bad_options_are_refused(encoder) -> None:  # noqa: ANN001
    with pytest.raises(TypeError, match="str or an iterable"):
        encoder.encode(None)
    with pytest.raises(ValueError, match="unknown pooling 'avg'"):
        encoder.encode(["x"], pooling="avg")
    with pytest.raises(ValueError, match="custom_layer"):
        encoder.encode(["x"], pooling="custom")
    with pytest.raises(ValueError, match="output must be"):
        encoder.encode(["x"], output="list")
    with pytest.raises(ValueError, match="dtype must be"):
        encoder.encode(["x"], dtype="int8")


def test_long_text_is_truncated_with_one_warning_or_raises(encoder, tiny) -> None:  # noqa: ANN001
    long = " ".join(tiny.WORDS)  # about 70 tokens, max_length is 48
    with pytest.warns(UserWarning, match=r"2 text\(s\) longer than max_length=48.*texts\[1\]") as record:
        vectors = encoder.encode(["short", long, long])
    assert len(record) == 1
    ids = encoder.tokenizer.encode(long)[0]
    cut = encoder.tokenizer.decode(ids[1:47])  # the first 46 word pieces, then [SEP]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(encoder.encode(cut), vectors[1], atol=1e-6)
    with pytest.raises(ValueError, match=r"texts\[1\] has \d+ tokens, more than max_length=48"):
        encoder.encode(["short", long], truncate=False)


def test_progress_bar_on_request(encoder, capsys) -> None:  # noqa: ANN001
    pytest.importorskip("tqdm")
    encoder.encode(["a b c"] * 5, progress=True)
    assert "encode" in capsys.readouterr().err


def test_similarity_and_search(encoder, tiny) -> None:  # noqa: ANN001
    corpus = encoder.encode(tiny.SENTENCES)
    sims = encoder.similarity(tiny.SENTENCES[:2], corpus)
    np.testing.assert_allclose(sims, corpus[:2] @ corpus.T, atol=1e-6)
    scores, indices = encoder.search([tiny.SENTENCES[3], tiny.SENTENCES[6]], corpus, top_k=3)
    assert indices[:, 0].tolist() == [3, 6] and scores.shape == (2, 3)
    assert np.all(np.diff(scores, axis=1) <= 0)
    scores, indices = encoder.search("the lazy dog", tiny.SENTENCES, top_k=50)
    assert indices.shape == (1, len(tiny.SENTENCES))


def test_encode_file_streams_into_npy(encoder, tiny, tmp_path: Path) -> None:  # noqa: ANN001
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(tiny.SENTENCES) + "\n", encoding="utf-8")
    out = encoder.encode_file(src, tmp_path / "vectors.npy", world_size=1, rank=0)
    np.testing.assert_allclose(np.load(out), encoder.encode(tiny.SENTENCES), atol=1e-6)


def test_shards_written_by_hand_merge_in_input_order(encoder, tiny, tmp_path: Path) -> None:  # noqa: ANN001
    from bert4torch.models import merge_shards

    src = tmp_path / "lines.txt"
    texts = [f"{s} {i}" for i, s in enumerate(tiny.SENTENCES * 3)][:23]
    src.write_text("\n".join(texts) + "\n", encoding="utf-8")
    out = tmp_path / "vectors.npy"
    for rank in range(3):
        encoder.encode_file(src, out, rank=rank, world_size=3)
    encoder.encode_file(src, tmp_path / "other.npy", rank=0, world_size=4)
    with pytest.raises(FileNotFoundError, match=r"ranks \[1, 2, 3\] of 4 are missing"):
        merge_shards(tmp_path / "other.npy")
    merged = merge_shards(out)
    np.testing.assert_allclose(np.load(merged), encoder.encode(texts), atol=1e-6)
    assert not list(tmp_path.glob("vectors.npy.rank*"))


def test_build_transformer_model_finds_the_folder_config(tiny_folder: Path) -> None:
    model = build_transformer_model(checkpoint_path=tiny_folder, add_trainer=False)
    assert model.hidden_size == 32 and model.load_report.ok


def test_folder_without_vocab_or_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no config.json"):
        SentenceEncoder(tmp_path)


@pytest.mark.slow
def test_minilm_matches_sentence_transformers(minilm_folder: Path) -> None:
    st = pytest.importorskip("sentence_transformers")
    texts = [
        "This framework generates embeddings for each input sentence.",
        "Sentences are passed as a list of string.",
        "The quick brown fox jumps over the lazy dog.",
        "A short one.",
        "Return a new array of given shape and type, filled with zeros; the data type defaults to float64 and the "
        "memory layout to row-major order, as C does.",
    ] * 3
    ours = SentenceEncoder(minilm_folder).encode(texts)
    reference = st.SentenceTransformer(str(minilm_folder), device="cpu").encode(texts, batch_size=4)
    cos = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    assert cos.min() >= 0.99999
    assert np.abs(ours - reference).max() <= 1e-5
