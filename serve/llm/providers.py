"""Chat providers over HTTP: an OpenAI-compatible chat-completions endpoint and Anthropic's
Messages API. Each turns (system, user) into the model's answer text or raises
:class:`ProviderFailure`.

``OpenAIChat`` covers OpenAI, vLLM, llama.cpp's server, Ollama and LiteLLM (anything that
serves ``/v1/chat/completions``). The API key goes only into the request header; it is never
part of a failure's detail, a repr or a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Final, Literal, Protocol

import httpx

from serve.llm.budget import parse_retry_after

FailureKind = Literal["timeout", "rate_limited", "server", "connection", "http", "protocol"]
RETRYABLE: Final = frozenset({"timeout", "rate_limited", "server", "connection"})
ANTHROPIC_VERSION: Final = "2023-06-01"
DEFAULT_BASE_URLS: Final = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
}


class ProviderFailure(Exception):
    """A call that produced no answer text. ``str(failure)`` is a short, key-free detail."""

    def __init__(
        self,
        kind: FailureKind,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind: FailureKind = kind
        self.detail = detail
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE


class Provider(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def base_url(self) -> str: ...

    async def complete(
        self,
        client: httpx.AsyncClient,
        system: str,
        user: str,
        *,
        max_tokens: int,
        timeout: float,
    ) -> str: ...


def _endpoint(base_url: str, path: str) -> str:
    """``{base}/v1/{path}``, or ``{base}/{path}`` when the base already ends with /v1."""
    base = base_url.rstrip("/")
    return f"{base}/{path}" if base.endswith("/v1") else f"{base}/v1/{path}"


async def _post_json(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    timeout: float,
) -> Any:
    """The parsed JSON of a 2xx answer, or :class:`ProviderFailure`."""
    try:
        response = await client.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        raise ProviderFailure("timeout", f"no answer within {timeout:.2f} s") from None
    except httpx.HTTPError as exc:
        raise ProviderFailure("connection", f"connection failed ({type(exc).__name__})") from None
    code = response.status_code
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise ProviderFailure(
            "rate_limited", "rate limited (HTTP 429)", status=code, retry_after=retry_after
        )
    if code >= 500:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        raise ProviderFailure(
            "server", f"server error (HTTP {code})", status=code, retry_after=retry_after
        )
    if not 200 <= code < 300:
        raise ProviderFailure("http", f"refused (HTTP {code})", status=code)
    try:
        return response.json()
    except ValueError:
        raise ProviderFailure("protocol", "response body is not JSON", status=code) from None


def _text_at(doc: Any, *path: str | int) -> str:
    """``doc[path...]`` as a string, or a protocol failure naming the path."""
    value = doc
    for step in path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            value = None
            break
    if not isinstance(value, str):
        shown = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path).lstrip(".")
        raise ProviderFailure("protocol", f"response has no text at {shown}")
    return value


@dataclass(frozen=True)
class OpenAIChat:
    """POST ``{base}/v1/chat/completions``; the answer is ``choices[0].message.content``."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    name: ClassVar[str] = "openai"

    @property
    def url(self) -> str:
        return _endpoint(self.base_url, "chat/completions")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def body(self, system: str, user: str, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": max_tokens,
            "response_format": {"type": "json_object"},
        }

    async def complete(
        self,
        client: httpx.AsyncClient,
        system: str,
        user: str,
        *,
        max_tokens: int,
        timeout: float,
    ) -> str:
        doc = await _post_json(
            client, self.url, self.headers(), self.body(system, user, max_tokens), timeout
        )
        return _text_at(doc, "choices", 0, "message", "content")


@dataclass(frozen=True)
class AnthropicMessages:
    """POST ``{base}/v1/messages``; the answer is ``content[0].text``."""

    base_url: str
    model: str
    api_key: str = field(default="", repr=False)
    name: ClassVar[str] = "anthropic"

    @property
    def url(self) -> str:
        return _endpoint(self.base_url, "messages")

    def headers(self) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self.api_key:
            headers["x-api-key"] = self.api_key
        return headers

    def body(self, system: str, user: str, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "system": system,
            "messages": [{"role": "user", "content": user}],
            "temperature": 0,
            "max_tokens": max_tokens,
        }

    async def complete(
        self,
        client: httpx.AsyncClient,
        system: str,
        user: str,
        *,
        max_tokens: int,
        timeout: float,
    ) -> str:
        doc = await _post_json(
            client, self.url, self.headers(), self.body(system, user, max_tokens), timeout
        )
        return _text_at(doc, "content", 0, "text")


PROVIDERS: Final[dict[str, type[OpenAIChat] | type[AnthropicMessages]]] = {
    "openai": OpenAIChat,
    "anthropic": AnthropicMessages,
}
