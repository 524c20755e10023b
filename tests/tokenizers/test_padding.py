"""sequence_padding: lists/arrays -> numpy, tensors -> tensor, checked against element-by-element construction."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bert4torch.tokenizers import sequence_padding

np = pytest.importorskip("numpy")


def _reference(rows, length, value, mode):
    out = []
    for r in rows:
        r = list(r)[:length]  # the original slices x[:length] in both modes: a longer row keeps its head
        pad = [value] * (length - len(r))
        out.append(r + pad if mode == "post" else pad + r)
    return out


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(-5, 5), max_size=9), min_size=1, max_size=6),
    length=st.one_of(st.none(), st.integers(0, 12)),
    value=st.integers(-1, 1),
    mode=st.sampled_from(["post", "pre"]),
)
def test_one_dimension(rows, length, value, mode) -> None:
    got = sequence_padding(rows, length=length, value=value, mode=mode)
    n = max(len(r) for r in rows) if length is None else length
    assert isinstance(got, np.ndarray) and got.shape == (len(rows), n)
    assert got.tolist() == _reference(rows, n, value, mode)
    # arrays in give the same
    assert (sequence_padding([np.array(r, dtype=np.int64) for r in rows], length, value, mode=mode) == got).all()


def test_two_sequence_dimensions_and_trailing_features() -> None:
    a = np.arange(6).reshape(2, 3)
    b = np.arange(4).reshape(1, 4) + 10
    got = sequence_padding([a, b], seq_dims=2, value=-1)
    assert got.shape == (2, 2, 4)
    expected = np.full((2, 2, 4), -1)
    expected[0, :2, :3] = a
    expected[1, :1, :4] = b
    assert (got == expected).all()
    feats = [np.ones((2, 5)), np.ones((3, 5))]
    got = sequence_padding(feats)  # only the first dimension is padded
    assert got.shape == (2, 3, 5) and got[0, 2].sum() == 0


def test_tensors_give_a_tensor_of_the_same_dtype() -> None:
    torch = pytest.importorskip("torch")
    rows = [torch.tensor([1, 2, 3]), torch.tensor([4])]
    for mode in ("post", "pre"):
        got = sequence_padding(rows, length=2, value=9, mode=mode)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.int64
        assert got.tolist() == _reference([[1, 2, 3], [4]], 2, 9, mode)
    f = sequence_padding([torch.ones(2, 3, dtype=torch.float16), torch.ones(1, 3, dtype=torch.float16)])
    assert f.dtype == torch.float16 and f.shape == (2, 2, 3) and f[1, 1].sum() == 0


def test_bad_mode_is_an_error() -> None:
    with pytest.raises(ValueError, match="mode"):
        sequence_padding([[1]], mode="middle")


def test_pre_mode_with_a_length_keeps_the_head_of_longer_sequences() -> None:
    torch = pytest.importorskip("torch")
    assert sequence_padding([[1, 2, 3, 4], [5]], length=2, mode="pre").tolist() == [[1, 2], [0, 5]]
    got = sequence_padding([torch.tensor([1, 2, 3, 4]), torch.tensor([5])], length=2, mode="pre")
    assert got.tolist() == [[1, 2], [0, 5]]


@pytest.mark.parametrize("length", [-1, 2.5, "3", [-1]])
def test_negative_or_non_integer_length_is_a_value_error_naming_length(length) -> None:
    with pytest.raises(ValueError, match="length"):
        sequence_padding([[1, 2, 3]], length=length)
