"""The safetensors reader against the ``safetensors`` library: the same tensors for every dtype, and every file the
library refuses is refused (as ``CheckpointError``) before a byte of data is read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from bert4torch.models import CheckpointError, load_checkpoint

_DTYPES = [getattr(torch, name) for name in (
    "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint64", "uint32", "uint16",
    "uint8", "bool", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "complex64",
) if hasattr(torch, name)]


def _sample(dtype: torch.dtype, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    raw = torch.randint(0, 256, (max(1, torch.Size(shape).numel()) * torch.empty((), dtype=dtype).element_size(),),
                        dtype=torch.uint8, generator=g)
    if dtype == torch.bool:
        return (raw[: torch.Size(shape).numel()] % 2).bool().reshape(shape)
    return raw.view(dtype)[: torch.Size(shape).numel()].reshape(shape)  # any bit pattern, NaNs included


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(-1).view(torch.uint8) if t.numel() else t.reshape(-1).to(torch.uint8)


@pytest.mark.parametrize("dtype", _DTYPES, ids=str)
def test_every_dtype_reads_as_the_library_reads_it(dtype: torch.dtype, tmp_path: Path) -> None:
    tensors = {f"t{i}": _sample(dtype, shape, i) for i, shape in enumerate([(3, 5), (), (0, 4), (2, 3, 4), (7,)])}
    path = tmp_path / "x.safetensors"
    save_file(tensors, str(path))
    ours, theirs = load_checkpoint(path), load_file(str(path))
    assert ours.keys() == theirs.keys() == tensors.keys()
    for key, tensor in theirs.items():
        assert ours[key].dtype == tensor.dtype and ours[key].shape == tensor.shape, key
        assert torch.equal(_bits(ours[key]), _bits(tensor)), key  # bitwise: NaNs and float8 included


def _rewrite(path: Path, edit) -> None:  # noqa: ANN001 - edit(header dict, data bytes) -> (header, data)
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header, data = edit(json.loads(raw[8 : 8 + n]), raw[8 + n :])
    text = json.dumps(header).encode() if isinstance(header, dict) else header
    path.write_bytes(len(text).to_bytes(8, "little") + text + data)


def _overlap(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["b"]["data_offsets"] = header["a"]["data_offsets"]
    return header, data


def _wrong_span(header: dict, data: bytes) -> tuple[dict, bytes]:
    header["a"]["shape"] = [5]
    return header, data


def _out_of_file(header: dict, data: bytes) -> tuple[dict, bytes]:
    start, end = header["b"]["data_offsets"]
    header["b"]["data_offsets"] = [start, end + 64]
    header["b"]["shape"] = [(end + 64 - start) // 4]
    return header, data


CORRUPTIONS = {
    "truncated data": lambda h, d: (h, d[:-5]),
    "extra trailing bytes": lambda h, d: (h, d + b"\0" * 8),
    "overlapping offsets": _overlap,
    "shape disagrees with the byte range": _wrong_span,
    "offsets beyond the file": _out_of_file,
    "unknown dtype": lambda h, d: ({**h, "a": {**h["a"], "dtype": "F7"}}, d),
    "header not json": lambda h, d: (b"{not json", d),
    "header is a list": lambda h, d: (b"[1, 2]", d),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_what_the_library_refuses_is_refused(name: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float32), "b": torch.ones(2, 3)}, str(path))
    _rewrite(path, CORRUPTIONS[name])
    with pytest.raises(SafetensorError) as refused:
        with safe_open(str(path), framework="pt") as f:
            for key in f.keys():
                f.get_tensor(key)
    with pytest.raises(CheckpointError, match="not a valid safetensors file") as ours:
        load_checkpoint(path)
    # the library's reason is the one given (which tensor it names first varies between runs)
    assert str(refused.value).split("`")[0] in str(ours.value)


def test_header_length_beyond_the_file_and_short_files_are_refused(tmp_path: Path) -> None:
    for raw in (b"\x01\x02", (10**6).to_bytes(8, "little") + b"{}"):
        path = tmp_path / "short.safetensors"
        path.write_bytes(raw)
        with pytest.raises(SafetensorError):
            safe_open(str(path), framework="pt")
        with pytest.raises(CheckpointError):
            load_checkpoint(path)


def test_an_untouched_file_loads_after_the_edits_above_would_have_changed_it(tmp_path: Path) -> None:
    path = tmp_path / "ok.safetensors"
    save_file({"a": torch.arange(6, dtype=torch.float32), "b": torch.ones(2, 3)}, str(path))
    _rewrite(path, lambda h, d: (h, d))  # the rewriting itself keeps a valid file valid
    assert torch.equal(load_checkpoint(path)["a"], torch.arange(6, dtype=torch.float32))
