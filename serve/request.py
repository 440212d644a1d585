"""The search request: read the body (415 / 413 / 400) and validate its fields (422).

Body of ``POST /api/playbook/search`` (``Content-Type: application/json``)::

    {"query": "stop production RDS for the weekend",   required, 1..max_query_chars
     "limit": 5,                                       1..max_limit (default_limit)
     "filters": {...},                                 see serve.filters
     "explain": false,                                 true adds score_breakdown
     "tenant_id": "acme",                              optional; must be the key's tenant
     "versions": "best",                               "best": one result per playbook,
                                                       older versions listed under it;
                                                       "all": every version ranked
     "mode": "hybrid",                                 "vector" | "keyword" | "hybrid"
     "rerank": false}                                  true: the optional LLM re-rank
                                                       pass, when one is configured
                                                       (serve.rerank_step)

Unknown top-level fields are refused (422 naming the field) so a typo such as ``limt``
cannot silently fall back to a default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from indexer.errors import BadRequest, InvalidParameter, PayloadTooLarge, UnsupportedMediaType
from indexer.settings import Settings
from serve._kinds import json_kind
from serve.filters import Filters, parse_filters

REQUEST_FIELDS = (
    "query",
    "limit",
    "filters",
    "explain",
    "tenant_id",
    "versions",
    "mode",
    "rerank",
)
VERSIONS = ("best", "all")
MODES = ("hybrid", "vector", "keyword")
JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class SearchRequest:
    query: str
    limit: int
    filters: Filters
    explain: bool
    tenant_id: str | None
    versions: str = "best"
    mode: str = "hybrid"
    rerank: bool = False


def _too_large(size: int | str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body of {size} bytes is larger than the {limit}-byte limit", max_bytes=limit
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def read_json_body(request: Request, max_bytes: int) -> Any:
    """The parsed JSON body; never reads more than ``max_bytes`` (+ one chunk)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() != JSON_MEDIA_TYPE:
        raise UnsupportedMediaType(
            f"expected Content-Type: {JSON_MEDIA_TYPE}, got {content_type or 'none'}",
            expected=JSON_MEDIA_TYPE,
        )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadRequest(f"Content-Length {declared!r} is not a byte count")
        if int(declared) > max_bytes:
            raise _too_large(int(declared), max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:  # a missing or lying Content-Length: count what arrives
            raise _too_large(f"more than {max_bytes}", max_bytes)
        chunks.append(chunk)
    data = b"".join(chunks)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"request body is not UTF-8 (byte {exc.start})", position=exc.start
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): {exc.msg}",
            line=exc.lineno,
            column=exc.colno,
            position=exc.pos,
        ) from None
    except ValueError as exc:
        raise BadRequest(f"invalid JSON: {exc}") from None


def _show(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _invalid(field: str, message: str, **details: Any) -> InvalidParameter:
    return InvalidParameter(f"{field}: {message}", field=field, **details)


def parse_search_request(body: Any, settings: Settings) -> SearchRequest:
    """Validate a parsed body; raises :class:`InvalidParameter` (422) naming the field."""
    if not isinstance(body, dict):
        raise _invalid("body", f"expected a JSON object, got {json_kind(body)}")
    for name in body:
        if name not in REQUEST_FIELDS:
            raise _invalid(
                name,
                f"unknown field; known fields are {', '.join(REQUEST_FIELDS)}",
                known=list(REQUEST_FIELDS),
            )
    query = body.get("query")
    if "query" not in body:
        raise _invalid("query", "is required")
    if not isinstance(query, str):
        raise _invalid("query", f"expected a string, got {json_kind(query)}")
    query = query.strip()
    if not query:
        raise _invalid("query", "must not be empty")
    if len(query) > settings.max_query_chars:
        raise _invalid(
            "query",
            f"has {len(query)} characters; at most {settings.max_query_chars} are allowed",
            max_chars=settings.max_query_chars,
        )
    limit = body.get("limit", min(settings.default_limit, settings.max_limit))
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not (1 <= limit <= settings.max_limit)
    ):
        raise _invalid(
            "limit",
            f"expected an integer from 1 to {settings.max_limit}, got {_show(limit)}",
            min=1,
            max=settings.max_limit,
        )
    explain = body.get("explain", False)
    if not isinstance(explain, bool):
        raise _invalid("explain", f"expected true or false, got {_show(explain)}")
    tenant_id = body.get("tenant_id")
    if tenant_id is not None and not isinstance(tenant_id, str):
        raise _invalid("tenant_id", f"expected a string, got {_show(tenant_id)}")
    versions = body.get("versions", VERSIONS[0])
    if versions not in VERSIONS:
        raise _invalid(
            "versions",
            f"expected one of {', '.join(VERSIONS)}, got {_show(versions)}",
            allowed=list(VERSIONS),
        )
    mode = body.get("mode", MODES[0])
    if mode not in MODES:
        raise _invalid(
            "mode", f"expected one of {', '.join(MODES)}, got {_show(mode)}", allowed=list(MODES)
        )
    rerank = body.get("rerank", False)
    if not isinstance(rerank, bool):
        raise _invalid("rerank", f"expected true or false, got {_show(rerank)}")
    filters = parse_filters(body.get("filters"), settings.max_filter_values)
    return SearchRequest(query, limit, filters, explain, tenant_id, versions, mode, rerank)
