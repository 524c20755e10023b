"""The embedded server: the standard library's threaded HTTP server with limits on bodies, time and sockets."""

from __future__ import annotations

import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._app import Dispatcher, RequestError, access_logger, error_body, handle

_DRAIN_BYTES = 64 * 1024 * 1024  # read (and drop) this much of a refused body so the client sees the answer
_DRAIN_SECONDS = 2.0


class EmbeddedServer(ThreadingHTTPServer):
    """A thread per connection and a listen backlog sized for bursts; the dispatcher counts requests in flight."""

    daemon_threads = True  # idle keep-alive connections must not hold shutdown; in-flight ones are awaited

    def __init__(self, address: tuple[str, int], dispatcher: Dispatcher, backlog: int, socket_timeout_s: float):
        self.request_queue_size = backlog
        self.dispatcher, self.socket_timeout_s = dispatcher, socket_timeout_s
        self.draining = False
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmbeddedServer
    # headers and body leave in one write (a buffered wfile flushed once per answer; answers up to this size fit
    # its buffer, a 384-float embedding is ~8 KB), without Nagle's delay
    wbufsize = 64 * 1024
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.timeout = self.server.socket_timeout_s  # slow or silent clients lose their connection
        super().setup()

    def handle_one_request(self) -> None:
        # Count a request from its first byte, so graceful shutdown waits for it.
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        self.server.dispatcher.begin()
        try:
            self._serve_parsed()
            self.wfile.flush()  # send_error's answers too
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True
        finally:
            self.server.dispatcher.end()

    def _serve_parsed(self) -> None:
        if len(self.raw_requestline) > 65536:
            self.send_error(414)
            return
        if not self.parse_request():
            return
        started = time.perf_counter()
        method = self.command.upper()
        path, _, query = self.path.partition("?")
        try:
            body = self._read_body() if method not in ("GET", "HEAD") else None
            status, payload = handle(self.server.dispatcher, method, path, query.encode("latin-1"),
                                     self.headers.get("Content-Type", ""), body)
        except RequestError as e:
            status, payload = e.status, error_body(e)
            self.close_connection = True  # the body was not read: its bytes must not be parsed as a request
        self._send(status, payload, method == "HEAD")
        if self.close_connection and status in (411, 413):
            self._drain()
        access_logger.info('%s "%s %s" %d %d %.1fms', self.client_address[0], method, path, status,
                           len(payload), 1000 * (time.perf_counter() - started))

    def _read_body(self) -> bytes:
        limit = self.server.dispatcher.limits.max_body_bytes
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile, limit)
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            raise RequestError(411, "a POST needs a Content-Length header or a chunked body")
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError(length)
        except ValueError:
            raise RequestError(400, f"invalid Content-Length {length_text!r}") from None
        if length > limit:
            raise RequestError(413, f"the body of {length} bytes is over the limit of {limit} bytes")
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, f"the body ended after {len(body)} of {length} bytes")
        return body

    def _send(self, status: int, payload: bytes, head_only: bool) -> None:
        if self.server.draining:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        if status == 405:
            self.send_header("Allow", self.server.dispatcher.allowed(self.path.partition("?")[0]))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head_only:
            self.wfile.write(payload)
        self.wfile.flush()

    def _drain(self) -> None:
        """Half-close, then read what the client is still sending, so it reads the answer, not a reset."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            end, total = time.monotonic() + _DRAIN_SECONDS, 0
            while time.monotonic() < end and total < _DRAIN_BYTES:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                total += len(chunk)
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:  # the access log above replaces it
        pass


def _read_chunked(stream: Any, limit: int) -> bytes:
    """Decode a chunked request body (RFC 9112 section 7.1), refusing it past ``limit`` bytes."""
    parts, total = [], 0
    while True:
        line = stream.readline(1026)
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            raise RequestError(400, "invalid chunk size line in a chunked body") from None
        if size == 0:
            break
        total += size
        if total > limit:
            raise RequestError(413, f"the chunked body is over the limit of {limit} bytes")
        parts.append(stream.read(size))
        if stream.readline(3) not in (b"\r\n", b"\n"):
            raise RequestError(400, "a chunk of a chunked body is not followed by CRLF")
    while stream.readline(8192) not in (b"\r\n", b"\n", b""):  # trailers are read and dropped
        pass
    return b"".join(parts)
