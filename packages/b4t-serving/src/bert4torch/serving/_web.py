"""``WebServing``: declare JSON endpoints over Python functions, serve them embedded or as a WSGI application.

``route(path, func, arguments, method)`` declares the query or form arguments a function takes, each as
``(converter, required)``; every answer is ``{"code": 0|1|2, "desc": ..., "data": ...}`` (0 success, 1 the
caller's error, 2 the server's), and the HTTP status says the same.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from ._app import Arguments, Dispatcher, Limits, RequestError, Route, error_body, handle, wsgi_app
from ._batch import Batcher
from ._server import EmbeddedServer


class WebServing:
    """Expose Python functions as JSON endpoints.

    Example:
        >>> arguments = {"text": (None, True), "n": (int, False)}
        >>> web = WebServing(port=8864)
        >>> web.route("/gen_synonyms", gen_synonyms, arguments)  # doctest: +SKIP
        >>> web.start()  # doctest: +SKIP
        # then GET http://127.0.0.1:8864/gen_synonyms?text=hello

    Args:
        host: address to bind; ``"0.0.0.0"`` (all interfaces) must be asked for.
        port: port to bind; 0 picks a free one (``bind()`` returns it).
        server: not supported; raises when given (use :attr:`wsgi_app` with gunicorn or waitress).
        max_body_bytes: request bodies above this are answered 413 and the connection closed.
        max_concurrent: requests handled at once; beyond it the answer is 429.
        request_timeout_s: a function taking longer is answered 503 (it keeps running in its thread).
        socket_timeout_s: a connection silent this long (mid-headers, mid-body or idle) is closed.
        backlog: the listen queue, sized for bursts of new connections.
        health_path: a GET route answering ``{"status": "ok"}``; None for none.
        debug: put the exception's text in 500 answers (for development; the log always has it).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 8000, server: str | None = None, *,
                 max_body_bytes: int = 2 * 1024 * 1024, max_concurrent: int = 128, request_timeout_s: float = 60.0,
                 socket_timeout_s: float = 30.0, backlog: int = 1024, health_path: str | None = "/health",
                 debug: bool = False) -> None:
        if server is not None:
            raise ValueError(f"server={server!r} is not supported: start() runs the embedded standard-library "
                             "server; for another server host web.wsgi_app, e.g. `waitress-serve module:app`")
        self.host, self.port = host, port
        self.socket_timeout_s, self.backlog = socket_timeout_s, backlog
        limits = Limits(max_body_bytes, max_concurrent, request_timeout_s, debug)
        self._dispatcher = Dispatcher(limits, health_path)
        self._httpd: EmbeddedServer | None = None

    def wraps(self, func: Callable[..., Any], arguments: Arguments, method: str = "GET") -> Callable[..., Any]:
        """Turn ``func`` into a handler of string parameters that returns the JSON answer as a dict.

        Args:
            func: called with the converted arguments as keywords; its result must be JSON-serialisable.
            arguments: name -> ``(converter or None, required)``; received values are strings and
                ``converter`` (``int``, ``float``, ``json.loads`` ...) turns them into what ``func`` takes.
            method: ``'GET'`` or ``'POST'``.
        """
        _check_method(method)
        route = Route(func, arguments)

        def handler(params: dict[str, str]) -> dict[str, Any]:
            self._dispatcher.begin()
            try:
                return json.loads(self._dispatcher.call(route, params)[1])
            except RequestError as e:
                return json.loads(error_body(e))
            finally:
                self._dispatcher.end()

        return handler

    def route(self, path: str, func: Callable[..., Any], arguments: Arguments, method: str = "GET", *,
              batch_size: int | None = None, max_wait_ms: float = 5.0, workers: int = 1,
              worker_init: Callable[[], Any] | None = None) -> None:
        """Serve ``func`` at ``path`` (see :meth:`wraps` for ``arguments`` and ``method``).

        Args:
            path: the URL path, starting with ``/``.
            func: the function; when batched it takes each argument as a list and returns a list of results.
            arguments: name -> ``(converter or None, required)``.
            method: ``'GET'`` or ``'POST'``.
            batch_size: batch requests arriving together into one call of at most this many; None: no batching.
            max_wait_ms: the longest a batch's first request waits for others; a batch closes sooner once every
                request in flight has joined it, so a lone request is not delayed.
            workers: batched routes: how many batches may compute at once, each in its own thread (one collects
                the next batch while the others compute).
            worker_init: batched routes: called once in each worker thread before its first batch, e.g.
                ``lambda: torch.set_num_threads(1)`` so that two workers share two cores instead of competing.
        """
        _check_method(method)
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': got {path!r}")
        batcher = (None if batch_size is None else
                   Batcher(func, batch_size, max_wait_ms / 1000, in_flight=lambda: self._dispatcher.in_flight,
                           workers=workers, worker_init=worker_init))
        self._dispatcher.routes[(method.upper(), path)] = Route(func, arguments, batcher)

    def wsgi_app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """The routes as a WSGI application, e.g. ``waitress-serve --port 8000 mymodule:web.wsgi_app``."""
        return wsgi_app(self._dispatcher, environ, start_response)

    def handle(self, method: str, path: str, query: bytes = b"", content_type: str = "",
               body: bytes | None = None) -> tuple[int, bytes]:
        """Answer one request without a socket: ``(status, JSON body bytes)``."""
        return handle(self._dispatcher, method.upper(), path, query, content_type, body)

    def bind(self) -> tuple[str, int]:
        """Open the listening socket without serving yet; returns the bound ``(host, port)``."""
        if self._httpd is None:
            self._httpd = EmbeddedServer((self.host, self.port), self._dispatcher, self.backlog, self.socket_timeout_s)
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def server_address(self) -> tuple[str, int]:
        """The bound ``(host, port)``; raises before :meth:`bind` or :meth:`start`."""
        if self._httpd is None:
            raise RuntimeError("the server is not bound yet: call bind() or start() first")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        """Serve until interrupted (Ctrl-C) or until :meth:`shutdown` is called from another thread."""
        httpd = self._httpd or self._bound()
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            self._finish(httpd, grace_s=30.0)

    def _bound(self) -> EmbeddedServer:
        self.bind()
        assert self._httpd is not None
        return self._httpd

    def start_in_thread(self) -> threading.Thread:
        """Serve from a daemon thread (handy in tests and notebooks); stop with :meth:`shutdown`."""
        self.bind()
        thread = threading.Thread(target=self.start, daemon=True)
        thread.start()
        return thread

    def shutdown(self, grace_s: float = 30.0) -> bool:
        """Stop accepting, let requests in flight finish (up to ``grace_s``), close; True when all finished."""
        httpd = self._httpd
        if httpd is None:
            return True
        httpd.shutdown()
        return self._finish(httpd, grace_s)

    def _finish(self, httpd: EmbeddedServer, grace_s: float) -> bool:
        httpd.draining = True
        finished = self._dispatcher.wait_idle(grace_s)
        httpd.server_close()
        self._httpd = None
        return finished


def _check_method(method: str) -> None:
    if method.upper() not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST': got {method!r}")


