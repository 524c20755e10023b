"""bert4torch.snippets: the original names, resolved lazily to their distributions."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import bert4torch.snippets as snippets
from bert4torch.snippets import DottableDict, delete_arguments, insert_arguments, is_string, softmax
from bert4torch.snippets._exports import EXPORTS

EXPECTED_ALL = sorted(
    """AdversarialTraining AutoRegressiveDecoder Callback Checkpoint DottableDict EarlyStopping Evaluator FGM History
    IterDataset LambdaCallback ListDataset Logger PGD ReduceLROnPlateau Tensorboard TerminateOnNaN VAT WebServing
    create_position_ids_from_input_ids delete_arguments get_pool_emb get_sinusoid_encoding_table insert_arguments
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
