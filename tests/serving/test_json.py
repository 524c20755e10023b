"""Answers holding numpy arrays and torch tensors: every value comes back exactly in its own dtype.

The serving distribution needs neither library: the tests that use one skip without it, the duck-typed array runs
everywhere.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest

from bert4torch.serving import WebServing
from bert4torch.serving._json import dumps


class DuckArray:
    """What the encoder asks of an array: ``tolist``, ``dtype`` and ``shape``."""

    def __init__(self, values: list[Any], dtype: str) -> None:
        self.values, self.dtype, self.shape = values, dtype, (len(values),)

    def tolist(self) -> list[Any]:
        return self.values


def test_any_array_like_is_written_as_a_list() -> None:
    tenth = struct.unpack("f", struct.pack("f", 0.1))[0]  # float32(0.1) as tolist() gives it: 0.10000000149011612
    assert json.loads(dumps({"a": DuckArray([0.5, -2.0, tenth], "float32"), "b": [DuckArray([1, 2], "int64")]})) == {
        "a": [0.5, -2, 0.100000001], "b": [[1, 2]]}
    assert dumps(DuckArray([0.1], "float64")) == "[0.1]"  # float64 keeps its repr
    with pytest.raises(ValueError, match="not JSON compliant"):
        dumps(DuckArray([math.inf], "float32"))


def _hard_float32s() -> Any:
    """Random float32s of every magnitude, subnormals, extremes and signed zeros."""
    torch = pytest.importorskip("torch")
    bits = torch.randint(0, 2**31 - 1, (20_000,), generator=torch.Generator().manual_seed(0), dtype=torch.int64)
    values = bits.to(torch.int32).view(torch.float32)
    values = values[torch.isfinite(values)]
    info = torch.finfo(torch.float32)
    extremes = torch.tensor([0.0, -0.0, 1.0, -1.0, info.max, -info.max, info.tiny, info.smallest_normal / 3,
                             1e-45, 0.1, 1 / 3, 16777217.0])
    return torch.cat([values, -values, extremes, torch.randn(1000, generator=torch.Generator().manual_seed(1))])


def test_float32_values_come_back_bit_for_bit() -> None:
    torch = pytest.importorskip("torch")
    values = _hard_float32s()
    decoded = torch.tensor(json.loads(dumps(values)), dtype=torch.float64).to(torch.float32)
    assert torch.equal(decoded.view(torch.int32)[values != 0], values.view(torch.int32)[values != 0])
    assert bool((decoded[values == 0] == 0).all())


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_narrow_float_tensors_come_back_exactly(dtype: str) -> None:
    torch = pytest.importorskip("torch")
    dtype = getattr(torch, dtype)
    values = torch.randn(2000, generator=torch.Generator().manual_seed(2)).to(dtype)
    assert torch.equal(torch.tensor(json.loads(dumps(values))).to(dtype), values)


def test_other_dtypes_encode_as_their_tolist() -> None:
    np, torch = pytest.importorskip("numpy"), pytest.importorskip("torch")
    cases = [torch.arange(-5, 5), torch.tensor([True, False]), torch.randn(3, 4, dtype=torch.float64),
             np.arange(6, dtype=np.int32).reshape(2, 3), np.random.default_rng(0).normal(size=5)]
    for array in cases:
        assert json.loads(dumps(array)) == array.tolist()


def test_arrays_inside_containers_and_shapes() -> None:
    np, torch = pytest.importorskip("numpy"), pytest.importorskip("torch")
    vector = np.float32([0.25, -1.5, 1024.0])
    payload = {"code": 0, "vector": vector, "rows": [torch.zeros(2, 0), torch.ones(2, 2)], 3: ("x", np.float32(0.5)),
               None: torch.tensor(7.5), "text": "中文"}
    decoded = json.loads(dumps(payload))
    assert decoded == {"code": 0, "vector": [0.25, -1.5, 1024], "rows": [[[], []], [[1, 1], [1, 1]]],
                       "3": ["x", 0.5], "null": 7.5, "text": "中文"}
    assert "中文" in dumps(payload)  # non-ASCII kept, as before


def test_a_result_without_arrays_is_plain_json() -> None:
    payload = {"code": 0, "data": [1.0000000000000002, {"a": None, 1: True}], "desc": "é"}
    assert dumps(payload) == json.dumps(payload, ensure_ascii=False)


def test_what_json_cannot_hold_is_still_refused() -> None:
    np, torch = pytest.importorskip("numpy"), pytest.importorskip("torch")
    for bad in (torch.tensor([1.0, math.nan]), np.float32([math.inf]), [torch.tensor([0.0]), math.nan]):
        with pytest.raises(ValueError, match="not JSON compliant"):
            dumps(bad)
    for bad in ({1, 2}, [torch.ones(1), {1}], {(1, 2): torch.ones(1)}):
        with pytest.raises(TypeError):
            dumps(bad)


def test_routes_answer_tensors_batched_or_not() -> None:
    import http.client

    torch = pytest.importorskip("torch")

    table = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    web = WebServing(port=0)
    web.route("/row", lambda i: table[i], {"i": (int, True)})
    web.route("/rows", lambda i: table[torch.tensor(i)], {"i": (int, True)}, batch_size=4, max_wait_ms=1)
    web.route("/nan", lambda: torch.tensor([math.nan]), {})
    _, port = web.bind()
    web.start_in_thread()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in ("/row", "/rows"):
            for i in range(4):
                conn.request("GET", f"{path}?i={i}")
                response = conn.getresponse()
                answer = json.loads(response.read())
                assert response.status == 200
                assert torch.equal(torch.tensor(answer["data"], dtype=torch.float64).float(), table[i])
        conn.request("GET", "/nan")
        response = conn.getresponse()
        assert response.status == 500 and "JSON" in json.loads(response.read())["desc"]
        conn.close()
    finally:
        web.shutdown()
