"""Routing, argument parsing and the JSON envelope, shared by the embedded server and the WSGI application."""

from __future__ import annotations

import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from ._batch import Batcher
from ._json import dumps

Arguments = Mapping[str, tuple[Callable[[str], Any] | None, bool]]
logger = logging.getLogger("bert4torch.serving")
access_logger = logging.getLogger("bert4torch.serving.access")


class RequestError(Exception):
    """An answer other than success: an HTTP status and the envelope's code and description."""

    def __init__(self, status: int, desc: str, code: int = 1) -> None:
        super().__init__(desc)
        self.status, self.desc, self.code = status, desc, code


@dataclass
class Route:
    """One served function: its declared arguments and, when batched, its batcher."""

    func: Callable[..., Any]
    arguments: Arguments
    batcher: Batcher | None = None


@dataclass
class Limits:
    """The server's limits (see :class:`~bert4torch.serving.WebServing` for each)."""

    max_body_bytes: int = 2 * 1024 * 1024
    max_concurrent: int = 128
    request_timeout_s: float = 60.0
    debug: bool = False


def envelope(code: int, desc: str, data: Any = None) -> dict[str, Any]:
    return {"code": code, "desc": desc, "data": {} if data is None else data}


def encode(payload: dict[str, Any]) -> bytes:
    return dumps(payload).encode("utf-8")


def parse_query(raw: bytes) -> dict[str, str]:
    """First value of each query or form field; invalid UTF-8 is the caller's error."""
    try:
        text = raw.decode("utf-8")
        pairs = parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError) as e:
        raise RequestError(400, f"invalid UTF-8 or form encoding in the query or form body: {e}") from None
    return {k: v[0] for k, v in pairs.items()}


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """A JSON object body; values other than strings are passed to converters as their JSON text."""
    try:
        obj = json.loads(raw.decode("utf-8") or "{}")
    except UnicodeDecodeError as e:
        raise RequestError(400, f"the body is not valid UTF-8: {e}") from None
    except (ValueError, RecursionError) as e:  # RecursionError: nesting deeper than the parser's stack
        raise RequestError(400, f"invalid JSON body: {str(e)[:200]}") from None
    if not isinstance(obj, dict):
        raise RequestError(400, "the JSON body must be an object of argument names to values")
    return {k: v if isinstance(v, str) or v is None else json.dumps(v) for k, v in obj.items()}


def convert_arguments(arguments: Arguments, params: Mapping[str, Any]) -> dict[str, Any]:
    """Apply each argument's converter; a missing required one (or JSON null) and a bad value are 400s."""
    kwargs: dict[str, Any] = {}
    for key, (convert, required) in arguments.items():
        value = params.get(key)
        if value is None:
            if required:
                raise RequestError(400, f'lack of "{key}" argument')
            continue
        if convert is not None:
            try:
                value = convert(value)
            except Exception as e:  # a bad value is the caller's error, not the server's
                raise RequestError(400, f'invalid "{key}" argument: {str(e)[:200]}') from None
        kwargs[key] = value
    return kwargs


class Dispatcher:
    """Turn ``(method, path, params)`` into ``(status, body bytes)``, enforcing concurrency and time limits."""

    def __init__(self, limits: Limits, health_path: str | None) -> None:
        self.limits, self.health_path = limits, health_path
        self.routes: dict[tuple[str, str], Route] = {}
        self._slots = threading.BoundedSemaphore(limits.max_concurrent)
        self._pool = ThreadPoolExecutor(max_workers=limits.max_concurrent, thread_name_prefix="b4t-serving")
        self.in_flight = 0  # requests read and not yet answered (what batchers and graceful shutdown wait on)
        self._idle = threading.Condition()

    def begin(self) -> None:
        """A request has started arriving (its first byte was read)."""
        with self._idle:
            self.in_flight += 1

    def end(self) -> None:
        """A request has been answered."""
        with self._idle:
            self.in_flight -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no request is in flight; False when ``timeout_s`` passed first."""
        with self._idle:
            return self._idle.wait_for(lambda: self.in_flight == 0, timeout=timeout_s)

    def find(self, method: str, path: str) -> Route:
        route = self.routes.get((method, path))
        if route is not None:
            return route
        if any(p == path for (_, p) in self.routes):
            raise RequestError(405, f"no {method} route at {path}: use {self.allowed(path)}")
        raise RequestError(404, f"no route at {path}")

    def allowed(self, path: str) -> str:
        return ", ".join(sorted(m for (m, p) in self.routes if p == path))

    def health(self) -> tuple[int, bytes]:
        return 200, encode(envelope(0, "ok", {"status": "ok", "routes": sorted({p for _, p in self.routes})}))

    def call(self, route: Route, params: Mapping[str, Any]) -> tuple[int, bytes]:
        """Convert, call within the limits and encode; every failure becomes an answer."""
        if not self._slots.acquire(blocking=False):
            raise RequestError(429, f"too many concurrent requests (limit {self.limits.max_concurrent}): retry later")
        try:
            kwargs = convert_arguments(route.arguments, params)
            future: Future = (route.batcher.submit(kwargs) if route.batcher is not None
                              else self._pool.submit(route.func, **kwargs))
            try:
                data = future.result(timeout=self.limits.request_timeout_s)
            except FutureTimeout:
                future.cancel()
                raise RequestError(503, f"the request took longer than {self.limits.request_timeout_s} s") from None
            except BaseException as e:  # SystemExit from the function is an answer too
                return 500, self.internal_error(e, "the function raised")
            try:
                return 200, encode(envelope(0, "succeeded", data))
            except (TypeError, ValueError, RecursionError) as e:
                return 500, self.internal_error(e, "the function's result cannot be encoded as JSON")
        finally:
            self._slots.release()

    def internal_error(self, error: BaseException, what: str) -> bytes:
        """Log the traceback under an error id; the client gets the id (and the text only in debug mode)."""
        error_id = uuid.uuid4().hex[:12]
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        logger.error("error %s: %s\n%s", error_id, what, text)
        desc = f"{what} (error id {error_id})"
        if self.limits.debug:
            desc += f": {type(error).__name__}: {error}"
        return encode(envelope(2, desc, {"error_id": error_id}))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def error_body(error: RequestError) -> bytes:
    return encode(envelope(error.code, error.desc))


def handle(dispatcher: Dispatcher, method: str, path: str, query: bytes, content_type: str,
           body: bytes | None) -> tuple[int, bytes]:
    """Answer one request whose body (``None`` for GET) has been read within the limits."""
    try:
        if method in ("GET", "HEAD") and path == dispatcher.health_path:
            return dispatcher.health()
        route = dispatcher.find("GET" if method == "HEAD" else method, path)
        if body is None:
            params: Mapping[str, Any] = parse_query(query)
        elif content_type.split(";")[0].strip().lower() == "application/json":
            params = parse_json_body(body)
        else:
            params = parse_query(body)
        return dispatcher.call(route, params)
    except RequestError as e:
        return e.status, error_body(e)


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
            413: "Content Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
            503: "Service Unavailable"}


def wsgi_app(dispatcher: Dispatcher, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """A PEP 3333 application over ``dispatcher``: what gunicorn, waitress or uwsgi host."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "") or "/"
    query = environ.get("QUERY_STRING", "").encode("latin-1")
    dispatcher.begin()
    try:
        body = _wsgi_body(environ, dispatcher.limits.max_body_bytes) if method not in ("GET", "HEAD") else None
        status, payload = handle(dispatcher, method, path, query, environ.get("CONTENT_TYPE", ""), body)
    except RequestError as e:
        status, payload = e.status, error_body(e)
    finally:
        dispatcher.end()
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(payload)))]
    if status == 405:
        headers.append(("Allow", dispatcher.allowed(path)))
    if status == 413:
        headers.append(("Connection", "close"))
    start_response(f"{status} {_REASONS.get(status, '')}", headers)
    access_logger.info("%s %s %d %d", method, path, status, len(payload))
    return [b"" if method == "HEAD" else payload]


def _wsgi_body(environ: dict[str, Any], limit: int) -> bytes:
    stream = environ["wsgi.input"]
    length_text = environ.get("CONTENT_LENGTH") or ""
    if not length_text:
        if not environ.get("wsgi.input_terminated"):
            return b""
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise RequestError(413, f"the body is over the limit of {limit} bytes")
        return body
    try:
        length = int(length_text)
    except ValueError:
        raise RequestError(400, f"invalid Content-Length {length_text!r}") from None
    if length > limit:
        raise RequestError(413, f"the body of {length} bytes is over the limit of {limit} bytes")
    return stream.read(length) if length > 0 else b""
