"""A scripted LLM provider: a real HTTP server on 127.0.0.1 speaking both protocols.

``POST /v1/chat/completions`` answers like an OpenAI-compatible server and
``POST /v1/messages`` like Anthropic's Messages API. Each request takes the next
behaviour from the script (or ``default`` when the script is empty)::

    fake.script(Fail(429, retry_after="0"), Answer('{"ranking": [...]}'))

- :class:`Answer` — 200 with ``content`` as the model's text, in the protocol's envelope;
- :class:`Slow` — wait ``seconds`` (cut short when the server stops), then ``then``;
- :class:`Fail` — an HTTP error status, optionally with ``Retry-After``;
- :class:`Raw` — exactly these bytes as the body (a broken envelope);
- :class:`Drop` — close the connection without answering.

Every request is recorded in ``fake.requests`` (path, headers, parsed body), so tests can
count calls and look at the prompt and the credentials sent. With ``api_key`` set the
server checks it the way each provider does (401 otherwise).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
PROTOCOLS = {OPENAI_PATH: "openai", ANTHROPIC_PATH: "anthropic"}


@dataclass(frozen=True)
class Answer:
    content: str


@dataclass(frozen=True)
class Slow:
    seconds: float
    then: Behaviour


@dataclass(frozen=True)
class Fail:
    status: int
    retry_after: str | None = None


@dataclass(frozen=True)
class Raw:
    body: bytes
    status: int = 200


@dataclass(frozen=True)
class Drop:
    pass


Behaviour = Answer | Slow | Fail | Raw | Drop


@dataclass(frozen=True)
class Seen:
    """One request as it arrived."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON, or None
    at: float  # time.monotonic() on arrival

    @property
    def system(self) -> str:
        """The system prompt, wherever the protocol puts it."""
        if self.path == ANTHROPIC_PATH:
            return str(self.body["system"])
        return str(next(m["content"] for m in self.body["messages"] if m["role"] == "system"))

    @property
    def user(self) -> str:
        """The (single) user message."""
        return str(next(m["content"] for m in self.body["messages"] if m["role"] == "user"))


def envelope(protocol: str, model: str, content: str) -> dict[str, Any]:
    """A successful response carrying ``content`` as the model's text."""
    if protocol == "anthropic":
        return {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": content}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 1, "output_tokens": 1},
        }
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def error_body(protocol: str, status: int) -> dict[str, Any]:
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": "api_error", "message": f"fake {status}"}}
    return {"error": {"message": f"fake {status}", "type": "server_error", "code": status}}


@dataclass
class FakeProvider:
    api_key: str | None = None
    default: Behaviour = field(default_factory=lambda: Fail(500))
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._script: list[Behaviour] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- life cycle ---

    def start(self) -> FakeProvider:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # --- scripting ---

    def script(self, *behaviours: Behaviour) -> None:
        with self._lock:
            self._script.extend(behaviours)

    def calls(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r.path == path)

    def _next(self, seen: Seen) -> Behaviour:
        with self._lock:
            self.requests.append(seen)
            return self._script.pop(0) if self._script else self.default


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-answer is expected here; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr."""

    def do_POST(self) -> None:
        fake = self.server.fake
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        headers = {name.lower(): value for name, value in self.headers.items()}
        seen = Seen(self.path, headers, body, time.monotonic())
        protocol = PROTOCOLS.get(self.path)
        if protocol is None:
            with fake._lock:
                fake.requests.append(seen)
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        if fake.api_key is not None and not self._authorised(protocol, headers, fake.api_key):
            with fake._lock:
                fake.requests.append(seen)
            self._send_json(401, error_body(protocol, 401))
            return
        model = body.get("model", "?") if isinstance(body, dict) else "?"
        self._perform(fake._next(seen), protocol, model)

    @staticmethod
    def _authorised(protocol: str, headers: dict[str, str], key: str) -> bool:
        if protocol == "anthropic":
            return headers.get("x-api-key") == key and "anthropic-version" in headers
        return headers.get("authorization") == f"Bearer {key}"

    def _perform(self, behaviour: Behaviour, protocol: str, model: str) -> None:
        fake = self.server.fake
        try:
            while isinstance(behaviour, Slow):
                if fake._stopping.wait(behaviour.seconds):
                    self.close_connection = True
                    return
                behaviour = behaviour.then
            if isinstance(behaviour, Answer):
                self._send_json(200, envelope(protocol, model, behaviour.content))
            elif isinstance(behaviour, Fail):
                extra = {"Retry-After": behaviour.retry_after} if behaviour.retry_after else {}
                self._send_json(behaviour.status, error_body(protocol, behaviour.status), extra)
            elif isinstance(behaviour, Raw):
                self._send(behaviour.status, behaviour.body, {})
            else:  # Drop: no status line, no bytes; the socket closes after this handler
                self.close_connection = True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (its budget ran out)

    def _send_json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(doc).encode(), headers or {})

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
