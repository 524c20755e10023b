"""WebServing under adversarial input and load, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import http.client
import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bert4torch.serving import WebServing


def repeat(text: str, n: int = 2) -> list[str]:
    return [text] * n


def upper_batch(text: list[str]) -> list[str]:
    if any(t == "boom" for t in text):
        raise ValueError("boom in this batch")
    return [t.upper() for t in text]


def slow(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pytest.fixture(scope="module")
def web() -> Iterator[tuple[WebServing, int]]:
    web = WebServing(port=0, max_body_bytes=4096, socket_timeout_s=5.0)
    web.route("/repeat", repeat, {"text": (None, True), "n": (int, False)})
    web.route("/repeat_post", repeat, {"text": (None, True), "n": (int, False)}, method="POST")
    web.route("/upper", upper_batch, {"text": (None, True)}, method="POST", batch_size=8, max_wait_ms=5)
    web.route("/slow", slow, {"seconds": (float, True)})
    web.route("/tensorish", lambda: {1, 2}, {})
    web.route("/exit", lambda: exit(3), {})
    _, port = web.bind()
    web.start_in_thread()
    yield web, port
    web.shutdown()


_OPEN: list[http.client.HTTPConnection] = []


def connect(port: int, timeout: float) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    _OPEN.append(conn)
    return conn


@pytest.fixture(autouse=True)
def _close_connections() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def request(conn: http.client.HTTPConnection, method: str, url: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict, bool]:
    conn.request(method, url, body=body, headers=headers or {})
    r = conn.getresponse()
    out = json.loads(r.read())
    return r.status, out, r.getheader("Connection", "").lower() == "close"


def test_json_null_for_a_required_argument_is_400(web) -> None:
    conn = connect(web[1], 5)
    status, out, _ = request(conn, "POST", "/repeat_post", b'{"text": null}', {"Content-Type": "application/json"})
    assert status == 400 and '"text"' in out["desc"]


def test_invalid_utf8_is_400(web) -> None:
    conn = connect(web[1], 5)
    assert request(conn, "GET", "/repeat?text=%FF%FE")[0] == 400
    assert request(conn, "POST", "/repeat_post", b'{"text": "\xff"}', {"Content-Type": "application/json"})[0] == 400


def test_unencodable_result_and_system_exit_are_500_answers(web) -> None:
    conn = connect(web[1], 5)
    status, out, _ = request(conn, "GET", "/tensorish")
    assert status == 500 and "JSON" in out["desc"] and out["code"] == 2
    assert request(conn, "GET", "/exit")[0] == 500


def test_deeply_nested_json_is_400(web) -> None:
    conn = connect(web[1], 5)
    body = b"[" * 100_000 + b"]" * 100_000
    big = WebServing(port=0, max_body_bytes=1 << 20)
    big.route("/r", repeat, {"text": (None, True)}, method="POST")
    _, port = big.bind()
    big.start_in_thread()
    try:
        conn = connect(port, 10)
        assert request(conn, "POST", "/r", body, {"Content-Type": "application/json"})[0] == 400
    finally:
        big.shutdown()


def test_oversize_body_is_413_and_the_connection_closed_even_for_a_large_upload(web) -> None:
    with socket.create_connection(("127.0.0.1", web[1]), timeout=5) as s:
        s.sendall(b"POST /repeat_post HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n"
                  b"Content-Type: application/json\r\n\r\n")
        try:
            s.sendall(b"x" * 2_000_000)  # the server drains what it can before closing
        except OSError:
            pass
        data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 413") and b"Connection: close" in data


def test_chunked_body_is_decoded(web) -> None:
    body = b'{"text": "ab", "n": 2}'
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:5], body[5:])) + b"0\r\n\r\n"
    with socket.create_connection(("127.0.0.1", web[1]), timeout=5) as s:
        s.sendall(b"POST /repeat_post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Type: application/json\r\n\r\n" + chunks)
        r = http.client.HTTPResponse(s)
        r.begin()
        assert r.status == 200 and json.loads(r.read())["data"] == ["ab", "ab"]


def test_post_without_length_is_411(web) -> None:
    with socket.create_connection(("127.0.0.1", web[1]), timeout=5) as s:
        s.sendall(b"POST /repeat_post HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(65536).startswith(b"HTTP/1.1 411")


def _malformed(rng: random.Random) -> tuple[str, str, bytes | None, dict[str, str]]:
    j = {"Content-Type": "application/json"}
    kinds = [
        ("GET", "/repeat", None, {}),
        ("GET", "/repeat?n=2", None, {}),
        ("GET", f"/repeat?text=a&n={rng.choice(['x', '1.5', '', '%FF'])}", None, {}),
        ("GET", "/repeat?text=%C3%28", None, {}),
        ("GET", "/" + "".join(rng.choices("abc/._%", k=8)), None, {}),
        ("POST", "/repeat", b"text=a", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("GET", "/repeat_post?text=a", None, {}),
        ("POST", "/repeat_post", rng.choice([b"{bad", b"[1]", b'"s"', b"\xff\xfe", b'{"text": null}']), j),
        ("POST", "/repeat_post", b'{"text": "a", "n": "q"}', j),
        ("POST", "/repeat_post", b"x" * 5000, j),
        ("GET", "/repeat?" + "".join(rng.choices("&=%;+?#x", k=12)).replace("#", ""), None, {}),
        ("DELETE", "/repeat", None, {}),
    ]
    return rng.choice(kinds)


def _hammer(port: int, seed: int, count: int) -> list[tuple[int, int]]:
    rng, bad = random.Random(seed), []
    conn = connect(port, 10)
    for _ in range(count):
        method, url, body, headers = _malformed(rng)
        status, out, closed = request(conn, method, url, body, headers)
        if not (400 <= status < 500 and out["code"] == 1):
            bad.append((status, out["code"]))
        if closed:
            conn.close()
            conn = connect(port, 10)
    conn.close()
    return bad


def test_ten_thousand_malformed_requests_are_all_4xx_json_and_health_answers_after(web) -> None:
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda seed: _hammer(web[1], seed, 1250), range(8)))
    assert [bad for bad in results if bad] == []
    conn = connect(web[1], 5)
    status, out, _ = request(conn, "GET", "/health")
    assert status == 200 and out["data"]["status"] == "ok"


def _client(port: int, seed: int, count: int) -> list[tuple[str, list[str]]]:
    conn, answers = connect(port, 30), []
    for i in range(count):
        text = f"c{seed}-{i}"
        if i % 2:
            status, out, _ = request(conn, "GET", f"/repeat?text={text}&n={i % 4}")
        else:
            status, out, _ = request(conn, "POST", "/upper", json.dumps({"text": text}).encode(),
                                     {"Content-Type": "application/json"})
        assert status == 200, out
        answers.append((text, out["data"]))
    return answers


def test_64_clients_by_100_requests_match_the_serial_results(web) -> None:
    with ThreadPoolExecutor(64) as pool:
        results = list(pool.map(lambda seed: _client(web[1], seed, 100), range(64)))
    for answers in results:
        for i, (text, data) in enumerate(answers):
            assert data == (repeat(text, i % 4) if i % 2 else upper_batch([text])[0])


def test_an_exception_fails_only_its_batch(web) -> None:
    def post(text: str) -> int:
        conn = connect(web[1], 10)
        return request(conn, "POST", "/upper", json.dumps({"text": text}).encode(),
                       {"Content-Type": "application/json"})[0]

    assert post("boom") == 500
    assert post("fine") == 200


def test_batched_route_merges_concurrent_requests() -> None:
    sizes: list[int] = []

    def record(text: list[str]) -> list[str]:
        sizes.append(len(text))
        time.sleep(0.02)
        return [t.upper() for t in text]

    web = WebServing(port=0)
    web.route("/u", record, {"text": (None, True)}, batch_size=16, max_wait_ms=20)
    _, port = web.bind()
    web.start_in_thread()
    try:
        with ThreadPoolExecutor(16) as pool:
            out = list(pool.map(lambda i: request(connect(port, 10),
                                                  "GET", f"/u?text=t{i}")[1]["data"], range(32)))
    finally:
        web.shutdown()
    assert out == [f"T{i}" for i in range(32)] and max(sizes) > 1


def test_slow_client_and_slow_function_do_not_stall_others(web) -> None:
    trickle = socket.create_connection(("127.0.0.1", web[1]), timeout=10)
    slow_result: list[int] = []
    slow_thread = threading.Thread(target=lambda: slow_result.append(request(
        connect(web[1], 10), "GET", "/slow?seconds=5")[0]))
    slow_thread.start()
    started = time.monotonic()
    conn = connect(web[1], 5)
    for byte in b"GET /repeat?text=t HTTP/1.1\r\nHost: x\r\n":
        trickle.send(bytes([byte]))
        t0 = time.monotonic()
        assert request(conn, "GET", "/repeat?text=a")[0] == 200
        assert time.monotonic() - t0 < 1.0
        time.sleep(0.02)
    assert time.monotonic() - started < 4.5  # the other requests were answered while /slow was still running
    trickle.close()
    slow_thread.join()
    assert slow_result == [200]


def test_graceful_shutdown_finishes_requests_in_flight() -> None:
    web = WebServing(port=0)
    web.route("/slow", slow, {"seconds": (float, True)})
    _, port = web.bind()
    web.start_in_thread()
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(request(
        connect(port, 10), "GET", "/slow?seconds=0.5")[0]))
    t.start()
    time.sleep(0.2)
    assert web.shutdown(grace_s=5) is True
    t.join()
    assert result == [200]


def test_concurrency_limit_answers_429() -> None:
    web = WebServing(port=0, max_concurrent=1)
    web.route("/slow", slow, {"seconds": (float, True)})
    _, port = web.bind()
    web.start_in_thread()
    try:
        t = threading.Thread(target=lambda: request(connect(port, 10),
                                                    "GET", "/slow?seconds=0.5"))
        t.start()
        time.sleep(0.2)
        assert request(connect(port, 10), "GET", "/slow?seconds=0")[0] == 429
        t.join()
    finally:
        web.shutdown()


def test_request_timeout_answers_503() -> None:
    web = WebServing(port=0, request_timeout_s=0.2)
    web.route("/slow", slow, {"seconds": (float, True)})
    _, port = web.bind()
    web.start_in_thread()
    try:
        assert request(connect(port, 10), "GET", "/slow?seconds=1")[0] == 503
    finally:
        web.shutdown()


def test_silent_client_is_disconnected_after_the_socket_timeout() -> None:
    web = WebServing(port=0, socket_timeout_s=0.3)
    _, port = web.bind()
    web.start_in_thread()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /health HTTP/1.1\r\n")
            assert s.recv(100) == b""  # closed by the server, not held open
    finally:
        web.shutdown()


def test_wsgi_app_under_waitress_over_real_http() -> None:
    waitress = pytest.importorskip("waitress.server")
    web = WebServing()
    web.route("/repeat", repeat, {"text": (None, True), "n": (int, False)})
    server = waitress.create_server(web.wsgi_app, host="127.0.0.1", port=0)
    port = server.effective_port
    closing = threading.Event()

    def serve() -> None:
        # waitress's loop may be inside select() on a socket that close() (called from this thread) just closed
        try:
            server.run()
        except (OSError, ValueError):
            if not closing.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        conn = connect(port, 5)
        assert request(conn, "GET", "/repeat?text=w&n=2")[:2] == (200, {"code": 0, "desc": "succeeded",
                                                                        "data": ["w", "w"]})
        assert request(conn, "GET", "/repeat?n=2")[0] == 400
        assert request(conn, "GET", "/health")[0] == 200
        conn.close()
    finally:
        closing.set()
        server.close()
        thread.join(10)


def test_a_lone_request_does_not_wait_for_companions() -> None:
    web = WebServing(port=0)
    web.route("/u", lambda text: [t.upper() for t in text], {"text": (None, True)}, batch_size=16,
              max_wait_ms=3000)
    _, port = web.bind()
    web.start_in_thread()
    try:
        conn = connect(port, 10)
        started = time.monotonic()
        for i in range(3):
            assert request(conn, "GET", f"/u?text=t{i}")[1]["data"] == f"T{i}"
        assert time.monotonic() - started < 1.5  # the old policy waited max_wait_ms (3 s) for each
    finally:
        web.shutdown()


def test_a_batch_waits_for_requests_in_flight() -> None:
    # Unit level: the batch stays open while the server reports requests that have not joined it yet.
    from bert4torch.serving._batch import Batcher

    in_flight = [3]
    batcher = Batcher(lambda x: x, batch_size=8, max_wait_s=5.0, in_flight=lambda: in_flight[0])
    first = batcher.submit({"x": 1})
    time.sleep(0.05)
    assert not first.done()  # two more are in flight
    batcher.submit({"x": 2})
    last = batcher.submit({"x": 3})
    assert (first.result(timeout=2), last.result(timeout=2)) == (1, 3)
    in_flight[0] = 2
    lone = batcher.submit({"x": 4})
    time.sleep(0.05)
    assert not lone.done()
    in_flight[0] = 1  # the other request was answered elsewhere: nobody left to wait for
    assert lone.result(timeout=1) == 4


def test_workers_compute_batches_side_by_side() -> None:
    # The function returns only once two calls run at once: one worker would deadlock (the barrier times out).
    from bert4torch.serving._batch import Batcher

    barrier = threading.Barrier(2, timeout=5)
    threads: list[str] = []

    def func(x: list[int]) -> list[int]:
        threads.append(threading.current_thread().name)
        barrier.wait()
        return [v * 10 for v in x]

    batcher = Batcher(func, batch_size=8, max_wait_s=0.01, workers=2)
    first = batcher.submit({"x": 1})
    time.sleep(0.1)  # its batch is computing (held at the barrier) before the second request arrives
    second = batcher.submit({"x": 2})
    assert (first.result(timeout=5), second.result(timeout=5)) == (10, 20)
    assert len(set(threads)) == 2


def test_a_batch_does_not_wait_for_requests_another_worker_computes() -> None:
    from bert4torch.serving._batch import Batcher

    release = threading.Event()
    in_flight = [1]
    batcher = Batcher(lambda x: [release.wait(5) and v for v in x], batch_size=8, max_wait_s=5.0,
                      in_flight=lambda: in_flight[0], workers=2)
    held = batcher.submit({"x": 1})  # alone in flight: its batch closes at once and computes, held at the event
    time.sleep(0.05)
    assert not held.done()
    in_flight[0] = 2
    started = time.monotonic()
    second = batcher.submit({"x": 2})
    time.sleep(0.05)
    release.set()
    # the first request is being computed, so nobody else may join: the second's batch closed at once
    assert second.result(timeout=2) == 2 and held.result(timeout=2) == 1
    assert time.monotonic() - started < 1.5  # not the 5 s max_wait


def test_worker_init_runs_once_in_each_worker_thread(caplog: pytest.LogCaptureFixture) -> None:
    from bert4torch.serving._batch import Batcher

    inits: list[str] = []
    calls: set[str] = set()

    def func(x: list[int]) -> list[int]:
        calls.add(threading.current_thread().name)
        return x

    batcher = Batcher(func, batch_size=4, max_wait_s=0.001, workers=3,
                      worker_init=lambda: inits.append(threading.current_thread().name))
    assert [batcher.submit({"x": i}).result(timeout=5) for i in range(20)] == list(range(20))
    assert sorted(inits) == [f"b4t-serving-batcher-{i}" for i in range(3)]
    assert calls <= set(inits)

    def broken() -> None:
        raise RuntimeError("no such setting")

    with caplog.at_level("ERROR", logger="bert4torch.serving"):
        failing = Batcher(func, batch_size=4, max_wait_s=0.001, worker_init=broken)
        assert failing.submit({"x": 7}).result(timeout=5) == 7  # still serves
    assert "worker_init failed" in caplog.text and "no such setting" in caplog.text
    with pytest.raises(ValueError, match="workers must be >= 1"):
        Batcher(func, batch_size=4, max_wait_s=0.001, workers=0)
