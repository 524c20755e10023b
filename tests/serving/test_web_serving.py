"""WebServing against a real socket on loopback: argument conversion, errors, GET and POST."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bert4torch.serving
from bert4torch.serving import WebServing

EXPECTED_ALL = ["WebServing"]


def test_all_is_pinned() -> None:
    assert sorted(bert4torch.serving.__all__) == sorted(EXPECTED_ALL)


def repeat(text: str, n: int = 2) -> list[str]:
    if n < 0:
        raise ValueError("n must be >= 0")
    return [text] * n


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    web = WebServing(host="127.0.0.1", port=0)
    web.route("/repeat", repeat, {"text": (None, True), "n": (int, False)})
    web.route("/repeat_post", repeat, {"text": (None, True), "n": (int, False)}, method="POST")
    host, port = web.bind()
    web.start_in_thread()
    yield f"http://{host}:{port}"
    web.shutdown()


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post(url: str, body: bytes, content_type: str) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_get_converts_arguments(server: str) -> None:
    status, out = get(server + "/repeat?" + urllib.parse.urlencode({"text": "你好", "n": "3"}))
    assert status == 200 and out == {"code": 0, "desc": "succeeded", "data": ["你好"] * 3}


def test_optional_argument_uses_the_function_default(server: str) -> None:
    assert get(server + "/repeat?text=a")[1]["data"] == ["a", "a"]


def test_missing_required_argument_is_code_1(server: str) -> None:
    status, out = get(server + "/repeat?n=2")
    assert status == 400 and out["code"] == 1 and '"text"' in out["desc"]


def test_unconvertible_argument_is_code_1(server: str) -> None:
    status, out = get(server + "/repeat?text=a&n=three")
    assert status == 400 and out["code"] == 1 and '"n"' in out["desc"]


def test_exception_in_function_is_a_500_with_an_error_id_and_no_text(server: str) -> None:
    status, out = get(server + "/repeat?text=a&n=-1")
    assert status == 500 and out["code"] == 2 and "n must be >= 0" not in out["desc"]
    assert out["data"]["error_id"] in out["desc"]


def test_unknown_path_and_wrong_method(server: str) -> None:
    assert get(server + "/nope")[0] == 404
    assert get(server + "/repeat_post?text=a")[0] == 405


def test_post_form_and_json(server: str) -> None:
    form = urllib.parse.urlencode({"text": "x", "n": "1"}).encode()
    assert post(server + "/repeat_post", form, "application/x-www-form-urlencoded")[1]["data"] == ["x"]
    body = json.dumps({"text": "y", "n": 2}).encode()
    assert post(server + "/repeat_post", body, "application/json")[1]["data"] == ["y", "y"]
    status, out = post(server + "/repeat_post", b"{not json", "application/json")
    assert status == 400 and out["code"] == 1


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ValueError, match="server"):
        WebServing(server="paste")
    with pytest.raises(ValueError, match="method"):
        WebServing().route("/x", repeat, {}, method="PUT")
    with pytest.raises(ValueError, match="start with '/'"):
        WebServing().route("x", repeat, {})


def test_default_bind_is_loopback() -> None:
    assert WebServing().host == "127.0.0.1"


def test_server_address_before_bind_raises_instead_of_binding() -> None:
    with pytest.raises(RuntimeError, match="bind"):
        WebServing(port=0).server_address


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=50), n=st.integers(min_value=-3, max_value=5) | st.text(max_size=5))
def test_any_input_gets_a_well_formed_answer(server: str, text: str, n: object) -> None:
    status, out = get(server + "/repeat?" + urllib.parse.urlencode({"text": text, "n": str(n)}))
    assert set(out) == {"code", "desc", "data"}
    try:
        expected_n = int(str(n))
    except ValueError:
        assert status == 400 and out["code"] == 1
        return
    if expected_n < 0:
        assert status == 500 and out["code"] == 2
    else:
        # what the server received is what was sent: query strings carry any Unicode text except NUL quirks
        assert out == {"code": 0, "desc": "succeeded", "data": [text] * expected_n}


def test_wraps_returns_the_envelope_dict() -> None:
    handler = WebServing().wraps(repeat, {"text": (None, True), "n": (int, False)})
    assert handler({"text": "a", "n": "1"}) == {"code": 0, "desc": "succeeded", "data": ["a"]}
    assert handler({"n": "1"})["code"] == 1
