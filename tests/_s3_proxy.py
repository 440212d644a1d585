"""A fault-injecting HTTP proxy in front of moto's S3 server, for retry tests.

:class:`FlakyS3Proxy` listens on 127.0.0.1 and forwards every request (method, path,
query, headers, body) to the upstream server, returning its status, headers and body
unchanged, except that the next *N* requests matching a predicate are answered by the
proxy itself with an S3 error (``503 SlowDown`` or ``500 InternalError``, with the XML
body S3 sends). Every request it sees is recorded, so a test can check that the client
really retried and what it retried.
"""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# Headers that describe one hop, not the message (RFC 9110 §7.6.1); never forwarded.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)

_ERROR_CODES = {503: "SlowDown", 500: "InternalError"}
_ERROR_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "InternalError": "We encountered an internal error. Please try again.",
}


@dataclass(frozen=True)
class SeenRequest:
    """One request that reached the proxy; ``injected`` is the status it faked, if any."""

    method: str
    path: str
    query: str
    injected: int | None

    @property
    def is_list(self) -> bool:
        return self.method == "GET" and "list-type=2" in self.query


Predicate = Callable[[str, str, str], bool]  # (method, path, query) -> inject?


def any_request(method: str, path: str, query: str) -> bool:
    return True


class FlakyS3Proxy:
    """Forwards to ``upstream``; call :meth:`fail_next` to make the next requests fail."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        assert parts.hostname and parts.port, upstream
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self._lock = threading.Lock()
        self._seen: list[SeenRequest] = []
        self._remaining = 0
        self._status = 503
        self._code = "SlowDown"
        self._when: Predicate = any_request
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="flaky-s3-proxy",
            daemon=True,
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> FlakyS3Proxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def fail_next(
        self, count: int, status: int = 503, when: Predicate = any_request, code: str = ""
    ) -> None:
        """Answer the next ``count`` requests for which ``when`` holds with ``status``."""
        with self._lock:
            self._remaining = count
            self._status = status
            self._code = code or _ERROR_CODES[status]
            self._when = when

    @property
    def seen(self) -> list[SeenRequest]:
        with self._lock:
            return list(self._seen)

    @property
    def injected(self) -> list[SeenRequest]:
        return [r for r in self.seen if r.injected is not None]

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()

    def _decide(self, method: str, path: str, query: str) -> tuple[int, str] | None:
        """Record the request; return (status, code) when it is to be failed."""
        with self._lock:
            fault = None
            if self._remaining > 0 and self._when(method, path, query):
                self._remaining -= 1
                fault = (self._status, self._code)
            self._seen.append(SeenRequest(method, path, query, fault[0] if fault else None))
            return fault


def _error_body(code: str, resource: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{_ERROR_MESSAGES.get(code, code)}</Message>"
        f"<Resource>{resource}</Resource><RequestId>{uuid.uuid4().hex[:16]}</RequestId>"
        "</Error>"
    ).encode()


def _handler_for(proxy: FlakyS3Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                out = bytearray()
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return bytes(out)
                    out += self.rfile.read(size)
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _handle(self) -> None:
            body = self._body()
            path, _, query = self.path.partition("?")
            fault = proxy._decide(self.command, path, query)
            if fault is not None:
                status, code = fault
                payload = b"" if self.command == "HEAD" else _error_body(code, path)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=30)
            try:
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status, resp.reason)
                for name, value in resp.getheaders():
                    # send_response already wrote Server and Date.
                    if name.lower() not in _HOP_BY_HOP | {"content-length", "server", "date"}:
                        self.send_header(name, value)
                # HEAD keeps upstream's Content-Length (the object's size) and sends no body.
                length = resp.getheader("Content-Length") if self.command == "HEAD" else None
                self.send_header("Content-Length", length or str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
            finally:
                conn.close()

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    return Handler
