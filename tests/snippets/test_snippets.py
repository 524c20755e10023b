"""bert4torch.snippets: the original names, resolved lazily to their distributions."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

import pytest

import bert4torch.snippets as snippets
from bert4torch.snippets import DottableDict, cal_ts_num, delete_arguments, get_kw, insert_arguments, is_string, softmax
from bert4torch.snippets._exports import EXPORTS

EXPECTED_ALL = sorted(
    """AdversarialTraining AutoRegressiveDecoder Callback Checkpoint DottableDict EarlyStopping Evaluator FGM History
    IterDataset LambdaCallback ListDataset Logger PGD ProgbarLogger ReduceLROnPlateau Tensorboard TerminateOnNaN VAT WebServing
    cal_ts_num create_position_ids_from_input_ids delete_arguments get_kw get_pool_emb get_sinusoid_encoding_table insert_arguments
    is_string lowercase_and_normalize merge_segmentate parallel_apply parallel_apply_generator seed_everything
    sequence_padding softmax text_augmentation text_segmentate truncate_sequences""".split()
)


def test_all_is_pinned() -> None:
    assert snippets.__all__ == EXPECTED_ALL


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_each_name_is_the_object_from_its_home(name: str) -> None:
    module_name = EXPORTS[name][0]
    home = importlib.import_module(module_name)
    assert getattr(snippets, name) is getattr(home, name)


def test_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        snippets.nope  # noqa: B018


def test_missing_distribution_names_the_pip_command() -> None:
    # Hide b4t-serving as if it were not installed; the error must say how to get it.
    code = (
        "import sys; sys.modules['bert4torch.serving'] = None\n"
        "import bert4torch.snippets as s\n"
        "try:\n    s.WebServing\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install b4t-serving" in out and "b4t[serving]" in out


def test_helpers() -> None:
    assert is_string("a") and not is_string(b"a")
    d = DottableDict(lr=0.1)
    d.epochs = 3
    assert d.lr == 0.1 and d["epochs"] == 3
    with pytest.raises(AttributeError):
        d.missing  # noqa: B018

    class Layer:
        @insert_arguments(scale=2)
        @delete_arguments("bias")
        def __init__(self, width: int) -> None:
            self.width = width

    layer = Layer(3, scale=5)
    assert (layer.width, layer.scale) == (3, 5) and Layer(1).scale == 2
    with pytest.raises(TypeError, match="bias"):
        Layer(1, bias=True)


def test_softmax_matches_the_formula() -> None:
    np = pytest.importorskip("numpy")
    x = np.array([[1.0, 2.0, 3.0], [1000.0, 1000.0, 0.0]])
    expected = np.exp(x - x.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(softmax(x), expected)
    np.testing.assert_allclose(softmax(x).sum(-1), 1.0)


def test_get_kw_drops_the_constructor_parameters() -> None:
    class Block:
        def __init__(self, hidden_size: int, dropout: float = 0.1) -> None: ...

    kwargs = {"hidden_size": 8, "dropout": 0.0, "layer_norm_eps": 1e-12}
    expected = {k: v for k, v in kwargs.items() if k not in inspect.signature(Block.__init__).parameters}
    assert get_kw(Block, kwargs) == expected == {"layer_norm_eps": 1e-12}
    assert kwargs["hidden_size"] == 8  # the input is left as it was


def test_cal_ts_num_counts_live_tensors_of_a_shape(capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    shape = (3, 1, 7, 5)  # a shape nothing else in the process uses
    before = cal_ts_num(torch.Size(shape))
    kept = [torch.zeros(shape) for _ in range(3)]
    assert cal_ts_num(shape) == before + 3
    assert capsys.readouterr().out.split()[-1] == str(before + 3)
    del kept


def test_progbar_logger_is_the_trainers() -> None:
    trainer = pytest.importorskip("bert4torch.trainer")
    assert snippets.ProgbarLogger is trainer.ProgbarLogger


def test_report_lists_every_distribution_and_its_missing_extras() -> None:
    from importlib import metadata

    out = subprocess.run(
        [sys.executable, "-m", "bert4torch.snippets"], capture_output=True, text=True, check=True
    ).stdout
    for dist in ("b4t", "b4t-tokenizers", "b4t-models", "b4t-losses", "b4t-trainer", "b4t-generation", "b4t-serving"):
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        assert f"{dist} " in out and version in out.split(f"{dist} ", 1)[1].splitlines()[0]


def test_report_names_a_missing_extra() -> None:
    # b4t-tokenizers' [sentencepiece] extra is missing exactly when sentencepiece is not installed.
    from importlib import metadata, util

    from bert4torch.snippets.__main__ import missing_extras

    pytest.importorskip("bert4torch.tokenizers")
    try:
        metadata.version("b4t-tokenizers")
    except metadata.PackageNotFoundError:
        pytest.skip("b4t-tokenizers is on the path but not installed")
    assert ("sentencepiece" in missing_extras("b4t-tokenizers")) == (util.find_spec("sentencepiece") is None)
