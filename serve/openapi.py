"""The hand-written OpenAPI 3.1 document served at ``GET /openapi.json``.

Kept beside the code it describes; a test checks that every documented route exists in the
app and every app route is documented.
"""

from __future__ import annotations

from typing import Any

from indexer.model import AUTHORS, CLOUD_PROVIDERS, SEARCHABLE_STATUSES
from serve.llm import STATUSES as LLM_STATUSES

_ERROR_REF = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _string_or_list(enum: list[str] | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "string", "minLength": 1}
    if enum:
        item["enum"] = enum
    return {"oneOf": [item, {"type": "array", "items": item, "minItems": 1}]}


def _op(
    summary: str,
    scope: str,
    *,
    body: str | None = None,
    params: tuple[str, ...] = (),
    query: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A write/admin operation: bearer token with ``scope``, JSON body, the one error shape."""
    op: dict[str, Any] = {
        "summary": summary,
        "description": f"Requires a bearer token with scope `{scope}` for the tenant concerned.",
        "security": [{"bearer": []}],
        "responses": {
            "200": {"description": "Done (JSON)"},
            "400": _error("Body is not valid JSON"),
            "401": _error("Missing, expired or tampered credential"),
            "403": _error(f"Missing scope `{scope}`, or another tenant's path"),
            "413": _error("Body larger than the configured limit"),
            "422": _error("A field or path segment is invalid"),
            "429": _error("Rate limit for this token exceeded (Retry-After)"),
            **{code: _error(text) for code, text in (extra or {}).items()},
        },
    }
    parameters = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in params
    ]
    parameters += [
        {"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in query
    ]
    if parameters:
        op["parameters"] = parameters
    if body:
        op["requestBody"] = {
            "required": True,
            "description": body,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    return op


_VERSION_PATH = ("tenant_id", "playbook_id", "version")
WRITE_PATHS: dict[str, Any] = {
    "/api/playbook/upload/request": {
        "post": _op(
            "Pre-signed PUT URLs (15 minutes) under the caller's "
            "tenants/<tenant>/playbooks/<id>/v<version>/ prefix",
            "publish",
            body='{"playbook_id", "version", "files": [relative file names]}',
            extra={"501": "The tenant source is a local folder (uploads need S3)"},
        )
    },
    "/api/playbook/metadata/publish": {
        "post": _op(
            "Validate an uploaded version, record it, reindex the tenant",
            "publish",
            body='{"playbook_id", "version", "wait"?: bool}',
            extra={"409": "Already published, or the folder failed validation"},
        )
    },
    "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}/status": {
        "post": _op(
            "Change a version's status (spec state diagram)",
            "publish (review to approve/reject)",
            body='{"status", "reason"?}',
            params=_VERSION_PATH,
            extra={"404": "No such playbook version", "409": "Illegal transition (allowed listed)"},
        )
    },
    "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}/history": {
        "get": _op(
            "Who changed what, when and why",
            "search",
            params=_VERSION_PATH,
            extra={"404": "No such playbook version"},
        )
    },
    "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}": {
        "delete": _op(
            "Delete a version (recorded, then reindexed)",
            "publish",
            params=_VERSION_PATH,
            extra={"404": "No such playbook version"},
        )
    },
    "/api/playbook/stats/{tenant_id}/{playbook_id}/{version}": {
        "post": _op(
            "Record one execution (three consecutive failures mark it broken)",
            "publish",
            body='{"success": bool, "duration_ms"?, "error"?}',
            params=_VERSION_PATH,
            extra={"404": "No such playbook version"},
        )
    },
    "/api/script/download": {
        "get": _op(
            "Pre-signed GET URL (1 hour), sha256, size and expiry of a script",
            "search",
            query=("playbook_id", "version", "format", "path", "tenant_id", "source"),
            extra={"404": "Not visible to the caller", "501": "The source is a local folder"},
        )
    },
    "/api/admin/reindex": {
        "post": _op(
            "Reindex now (whole store or listed tenants)", "admin", body='{"tenants"?: [..]}'
        )
    },
    "/api/admin/rollback": {
        "post": _op(
            "Roll back the store or one collection",
            "admin",
            body='{"to", "collection"?}',
            extra={"404": "No such manifest or collection"},
        )
    },
}


def openapi_document(
    *, max_limit: int, default_limit: int, max_query_chars: int, max_filter_values: int
) -> dict[str, Any]:
    """The document, with the limits this server was configured with."""
    filters = {
        "type": "object",
        "additionalProperties": False,
        "description": "Values within one filter are OR-ed, filters are AND-ed. Lists hold "
        f"1..{max_filter_values} values.",
        "properties": {
            "cloud_provider": _string_or_list(list(CLOUD_PROVIDERS)),
            "resource_types": _string_or_list(),
            "tags": {
                "type": "object",
                "additionalProperties": {"type": ["string", "boolean", "number"]},
                "description": 'Every tag must match (booleans as "true"/"false").',
            },
            "status": _string_or_list(sorted(SEARCHABLE_STATUSES)),
            "author": _string_or_list(list(AUTHORS)),
        },
    }
    request = {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": max_query_chars},
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": max_limit,
                "default": default_limit,
            },
            "filters": filters,
            "explain": {
                "type": "boolean",
                "default": False,
                "description": "Add score_breakdown to each result.",
            },
            "tenant_id": {
                "type": "string",
                "description": "Optional; must equal the tenant "
                "of the API key (403 otherwise). The key alone decides the tenant.",
            },
            "versions": {
                "enum": ["best", "all"],
                "default": "best",
                "description": "best: one result per playbook (its best version), older "
                "versions listed under it; all: every version ranked on its own.",
            },
            "mode": {
                "enum": ["hybrid", "vector", "keyword"],
                "default": "hybrid",
                "description": "Retrieval channels: hybrid (vector + keyword + intent), "
                "vector only (cosine + precedence) or keyword (BM25) only.",
            },
            "rerank": {
                "type": "boolean",
                "default": False,
                "description": "Run the optional LLM pass, when the server has one "
                "configured (otherwise the response's llm_intent.status and rerank.status "
                'are "skipped"): its intent is merged into the rule-based one before ranking '
                "(see llm_intent), then the top results are re-ranked. Only those results "
                "can move; none is ever added.",
            },
        },
    }
    result = {
        "type": "object",
        "required": [
            "rank",
            "playbook_id",
            "version",
            "source",
            "collection",
            "status",
            "confidence",
            "score",
            "reason",
            "warnings",
            "metadata",
            "parameters",
            "explain_plan",
            "scripts",
        ],
        "properties": {
            "rank": {"type": "integer", "minimum": 1},
            "playbook_id": {"type": "string"},
            "version": {"type": "string"},
            "source": {"enum": ["tenant", "escher_library"]},
            "collection": {"type": "string"},
            "status": {"enum": sorted(SEARCHABLE_STATUSES)},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "score": {"type": "number"},
            "reason": {"type": "string"},
            "warnings": {"type": "array", "items": {"type": "string"}},
            "metadata": {"type": "object"},
            "parameters": {},
            "explain_plan": {},
            "scripts": {
                "type": "object",
                "description": "format -> entry point and where to fetch each file",
                "additionalProperties": {
                    "type": "object",
                    "properties": {
                        "entry_point": {"type": "string"},
                        "files": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "path": {"type": "string"},
                                    "uri": {"type": "string"},
                                    "sha256": {"type": "string"},
                                    "size_bytes": {"type": "integer"},
                                },
                            },
                        },
                    },
                },
            },
            "score_breakdown": {"type": "object", "description": "Only with explain: true."},
            "reason_deterministic": {
                "type": "string",
                "description": "Only when the LLM pass reordered the results: the search's "
                "own reason (reason then starts with the model's).",
            },
            "confidence_deterministic": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Only when the LLM pass reordered the results: the "
                "search's own confidence.",
            },
        },
    }
    response = {
        "type": "object",
        "required": ["query", "tenant", "manifest_id", "results", "total_candidates", "took_ms"],
        "properties": {
            "query": {"type": "string"},
            "tenant": {"type": "string"},
            "manifest_id": {"type": "string"},
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}},
            "total_candidates": {
                "type": "integer",
                "description": "Playbook versions in the "
                "searched collections that are visible and pass the filters.",
            },
            "took_ms": {"type": "number"},
            "intent": {
                "type": "object",
                "description": "What the search understood of the query: the rule-based "
                "intent, gaps filled by the LLM intent pass when it ran (soft evidence only, "
                "never a filter; explicit filters and the rules win).",
                "properties": {
                    "llm_fields": {
                        "type": "array",
                        "items": {
                            "enum": ["action", "cloud_provider", "resource_types", "keywords"]
                        },
                        "description": "The fields the LLM intent pass filled (keywords: "
                        "added to expansions); empty when it did not run or added nothing.",
                    },
                },
            },
            "llm_intent": {"$ref": "#/components/schemas/LLMIntent"},
            "rerank": {"$ref": "#/components/schemas/Rerank"},
        },
    }
    llm_intent = {
        "type": "object",
        "description": 'What the optional LLM intent pass (run with "rerank": true, before '
        "the search's own ranking, on a share of the LLM time budget) did. Unless the status "
        "is applied or cached, the intent is the rule-based one alone.",
        "required": ["status", "model", "prompt_version", "detail", "elapsed_ms"],
        "properties": {
            "status": {
                "enum": list(LLM_STATUSES),
                "description": "applied / cached: the model's intent was merged; timeout / "
                "error / invalid_output: no usable answer, rules only; skipped: no call "
                '("not requested", "not configured", circuit open).',
            },
            "model": {"type": ["string", "null"]},
            "prompt_version": {"type": "string"},
            "detail": {"type": ["string", "null"]},
            "elapsed_ms": {"type": "number"},
        },
    }
    rerank = {
        "type": "object",
        "description": "What the optional LLM re-rank pass did. Unless the status is "
        "applied or cached, the results are exactly the search's own ranking.",
        "required": ["status", "model", "prompt_version", "detail", "elapsed_ms", "candidates"],
        "properties": {
            "status": {
                "enum": list(LLM_STATUSES),
                "description": "applied: the model's ranking was used; cached: a ranking "
                "accepted earlier was reused; timeout / error / invalid_output: no usable "
                'answer, the search\'s ranking stands; skipped: no call ("not requested", '
                '"not configured", circuit open, no candidates).',
            },
            "model": {"type": ["string", "null"]},
            "prompt_version": {"type": "string"},
            "detail": {"type": ["string", "null"]},
            "elapsed_ms": {"type": "number"},
            "candidates": {
                "type": "integer",
                "minimum": 0,
                "description": "How many top results were offered to the model.",
            },
        },
    }
    error = {
        "type": "object",
        "required": ["error", "request_id"],
        "additionalProperties": False,
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {"type": "object"},
                },
            },
            "request_id": {"type": ["string", "null"]},
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Playbook search",
            "version": "0.1.0",
            "description": "Search cloud-automation playbooks: the Escher library plus "
            "the caller's tenant collection.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "API key; it decides the tenant.",
                }
            },
            "schemas": {
                "SearchRequest": request,
                "SearchResponse": response,
                "Result": result,
                "LLMIntent": llm_intent,
                "Rerank": rerank,
                "Error": error,
            },
        },
        "paths": {
            "/api/playbook/search": {
                "post": {
                    "summary": "Search playbooks",
                    "security": [{"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/SearchRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Ranked results",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/SearchResponse"}
                                }
                            },
                        },
                        "400": _error("Body is not valid JSON (the position is in details)"),
                        "401": _error("Missing, malformed or unknown API key"),
                        "403": _error("tenant_id differs from the API key's tenant"),
                        "413": _error("Body larger than the configured limit"),
                        "415": _error("Content-Type is not application/json"),
                        "422": _error("A field is missing, unknown, or has a wrong type or value"),
                        "503": _error("No snapshot loaded yet"),
                    },
                }
            },
            "/api/stats": {
                "get": {
                    "summary": "Catalogue summary for the library and the caller's tenant",
                    "security": [{"bearer": []}],
                    "responses": {
                        "200": {
                            "description": "counts (by collection, status, provider, "
                            "author), success_rates, freshness, rejections, totals"
                        },
                        "401": _error("Missing, malformed or unknown API key"),
                        "503": _error("No snapshot loaded yet"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics (text exposition format 0.0.4)",
                    "responses": {"200": {"description": "text/plain; version=0.0.4"}},
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness: 200 while the process runs",
                    "responses": {"200": {"description": '{"status": "ok"}'}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: a snapshot is loaded",
                    "responses": {
                        "200": {
                            "description": '{"status": "ready", "manifest_id", '
                            '"collections": {name: rows}}'
                        },
                        "503": _error("No snapshot loaded (details.load_error says why)"),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            },
            **WRITE_PATHS,
        },
    }
