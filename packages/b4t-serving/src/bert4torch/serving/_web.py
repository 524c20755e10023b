"""A small JSON web interface for a Python function, on the standard library's threaded HTTP server.

The original wrapped bottle (and paste); the contract is kept: ``route(path, func, arguments, method)``
declares the query or form arguments a function takes, each as ``(converter, required)``, and every
answer is ``{"code": 0|1|2, "desc": ..., "data": ...}`` with code 1 for a missing or unconvertible
argument and code 2 for an exception raised by the function.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Arguments = Mapping[str, tuple[Callable[[str], Any] | None, bool]]
Handler = Callable[[Mapping[str, str]], dict[str, Any]]

# Server names the original accepted; all of them are served by the stdlib threaded server here.
_SERVERS = ("paste", "wsgiref", "auto", "threading")
_MAX_BODY = 16 * 1024 * 1024


class WebServing:
    """Expose Python functions as JSON endpoints.

    Example:
        >>> arguments = {"text": (None, True), "n": (int, False)}
        >>> web = WebServing(port=8864)
        >>> web.route("/gen_synonyms", gen_synonyms, arguments)  # doctest: +SKIP
        >>> web.start()  # doctest: +SKIP
        # then GET http://127.0.0.1:8864/gen_synonyms?text=hello

    Args:
        host: address to bind.
        port: port to bind; 0 picks a free one (read it back from ``server_address`` after ``bind()``).
        server: accepted for compatibility with the original (``'paste'``, ``'wsgiref'``, ``'auto'``);
            every name runs the standard library's threaded HTTP server, so no extra package is needed.
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 8000, server: str = "paste") -> None:
        if server not in _SERVERS:
            raise ValueError(f"unknown server {server!r}: choose one of {', '.join(_SERVERS)}")
        self.host, self.port, self.server = host, port, server
        self._routes: dict[tuple[str, str], Handler] = {}
        self._httpd: ThreadingHTTPServer | None = None

    def wraps(self, func: Callable[..., Any], arguments: Arguments, method: str = "GET") -> Handler:
        """Turn ``func`` into a handler of string parameters that returns the JSON answer as a dict.

        Args:
            func: called with the converted arguments as keywords; its result must be JSON-serialisable.
            arguments: name -> ``(converter or None, required)``; received values are strings and
                ``converter`` (``int``, ``float``, ``json.loads`` ...) turns them into what ``func`` takes.
            method: ``'GET'`` or ``'POST'``.
        """
        _check_method(method)

        def handler(params: Mapping[str, str]) -> dict[str, Any]:
            kwargs: dict[str, Any] = {}
            for key, (convert, required) in arguments.items():
                value = params.get(key)
                if value is None:
                    if required:
                        return {"code": 1, "desc": f'lack of "{key}" argument', "data": {}}
                    continue
                if convert is not None:
                    try:
                        value = convert(value)
                    except Exception as e:  # a bad value is the caller's error, not the server's
                        return {"code": 1, "desc": f'invalid "{key}" argument: {e}', "data": {}}
                kwargs[key] = value
            try:
                data = func(**kwargs)
            except Exception as e:
                return {"code": 2, "desc": f"{type(e).__name__}: {e}", "data": {}}
            return {"code": 0, "desc": "succeeded", "data": data}

        return handler

    def route(self, path: str, func: Callable[..., Any], arguments: Arguments, method: str = "GET") -> None:
        """Serve ``func`` at ``path`` (see :meth:`wraps` for ``arguments`` and ``method``)."""
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': got {path!r}")
        self._routes[(method.upper(), path)] = self.wraps(func, arguments, method)

    def bind(self) -> tuple[str, int]:
        """Open the listening socket without serving yet; returns the bound ``(host, port)``."""
        if self._httpd is None:
            self._httpd = ThreadingHTTPServer((self.host, self.port), _make_request_handler(self._routes))
            self._httpd.daemon_threads = True
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def server_address(self) -> tuple[str, int]:
        return self.bind()

    def start(self) -> None:
        """Serve until interrupted (Ctrl-C) or until :meth:`shutdown` is called from another thread."""
        self.bind()
        assert self._httpd is not None
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()
            self._httpd = None

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread (handy in tests and notebooks); stop with :meth:`shutdown`."""
        self.bind()
        thread = threading.Thread(target=self.start, daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()


def _check_method(method: str) -> None:
    if method.upper() not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST': got {method!r}")


def _first_values(query: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def _make_request_handler(routes: dict[tuple[str, str], Handler]) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _dispatch(self, method: str) -> None:
            url = urlsplit(self.path)
            handler = routes.get((method, url.path))
            if handler is None:
                allowed = [m for (m, p) in routes if p == url.path]
                status = HTTPStatus.METHOD_NOT_ALLOWED if allowed else HTTPStatus.NOT_FOUND
                self._answer(status, {"code": 1, "desc": f"no {method} route at {url.path}", "data": {}})
                return
            if method == "GET":
                params = _first_values(url.query)
            else:
                params = self._read_body()
                if params is None:
                    return
            self._answer(HTTPStatus.OK, handler(params))

        def _read_body(self) -> dict[str, str] | None:
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= _MAX_BODY:
                self._answer(HTTPStatus.BAD_REQUEST, {"code": 1, "desc": "invalid Content-Length", "data": {}})
                return None
            raw = self.rfile.read(length).decode("utf-8", errors="replace")
            if (self.headers.get("Content-Type") or "").startswith("application/json"):
                try:
                    obj = json.loads(raw or "{}")
                except json.JSONDecodeError as e:
                    self._answer(HTTPStatus.BAD_REQUEST, {"code": 1, "desc": f"invalid JSON body: {e}", "data": {}})
                    return None
                if not isinstance(obj, dict):
                    self._answer(HTTPStatus.BAD_REQUEST, {"code": 1, "desc": "JSON body must be an object", "data": {}})
                    return None
                # Converters receive strings, as with form and query parameters.
                return {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
            return _first_values(raw)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._dispatch("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._dispatch("POST")

        def log_message(self, format: str, *args: Any) -> None:  # quiet by default
            pass

    return _RequestHandler
