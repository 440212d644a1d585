"""The write API over HTTP: routes, request parsing, authorisation. Logic: :mod:`serve.writes`.

=========================================================================  ==========  =====
route                                                                      scope       ok
=========================================================================  ==========  =====
``POST   /api/playbook/upload/request``   {playbook_id, version, files}    publish     200
``POST   /api/playbook/metadata/publish`` {playbook_id, version, wait?}    publish     202/200
``POST   /api/playbook/metadata/{tenant}/{id}/{version}/status``           publish or  200
         {status, reason?}  (approve/reject: review)                       review
``DELETE /api/playbook/metadata/{tenant}/{id}/{version}``  {reason?}       publish     200
``POST   /api/playbook/stats/{tenant}/{id}/{version}``  {success, ...}     publish     200
``GET    /api/playbook/metadata/{tenant}/{id}/{version}/history``          search      200
``GET    /api/script/download?playbook_id=&version=&format=&path=``        search      200
``POST   /api/admin/reindex``  {tenants?, library?}                        admin       200
``POST   /api/admin/rollback`` {to, collection?, dry_run?}                 admin       200
=========================================================================  ==========  =====

Every request is checked in this order, and nothing is written before the last check:
credential (401), rate (429), scope (403), the tenant in the path or body is the
credential's (403), body size / type / JSON (413 / 415 / 400), fields and ids (422: safe
ids, semver, file names that stay inside ``tenants/<tenant>/playbooks/<id>/v<version>/``),
existence (404), state (409). Every refusal is the one JSON error shape.

:func:`setup_write_path` puts the credentials (API keys + tokens + rate limiter, so the
search route gets them too), the :class:`~serve.writes.WritePath` and the
:class:`~serve.reindex.Reindexer` on ``app.state``; :func:`close_write_path` stops the
reindex worker.
"""

from __future__ import annotations

import time
from typing import Any, Final

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from indexer.blobs import Blobs, open_blobs
from indexer.errors import BadRequest, InvalidParameter, NotReady
from indexer.model import is_safe_id, is_valid_tenant, parse_semver
from indexer.settings import Settings
from serve.auth import (
    ApiKeys,
    authorize,
    check_path_tenant,
    check_tenant_claim,
    identify,
    require_scope,
)
from serve.download import script_download
from serve.presign import check_upload_paths
from serve.ratelimit import RateLimiter
from serve.reindex import Reindexer
from serve.request import read_json_body
from serve.tokens import Principal, TokenKeys
from serve.writes import Target, WritePath

MAX_REASON_CHARS: Final = 1000
MAX_ERROR_CHARS: Final = 2000


def _write(request: Request) -> WritePath:
    write: WritePath | None = getattr(request.app.state, "write", None)
    if write is None:
        raise NotReady("the write path is not set up (setup_write_path was not called)")
    return write


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.api_keys
    return keys


async def _body(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object body (``{}`` when a DELETE sends none); unknown fields are 422."""
    settings: Settings = request.app.state.settings
    if (
        request.method == "DELETE"
        and "content-type" not in request.headers
        and request.headers.get("content-length") in (None, "0")
    ):
        return {}
    body = await read_json_body(request, settings.max_body_bytes)
    if not isinstance(body, dict):
        raise InvalidParameter("body: expected a JSON object", field="body")
    for name in body:
        if name not in fields:
            raise InvalidParameter(
                f"{name}: unknown field; known fields are {', '.join(fields)}",
                field=name,
                known=list(fields),
            )
    return body


def _text(body: dict[str, Any], name: str, limit: int, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidParameter(f"{name}: is required", field=name)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise InvalidParameter(
            f"{name}: expected a string of at most {limit} characters", field=name, max_chars=limit
        )
    return value.strip() or None


def _target(who: Principal, tenant: Any, playbook_id: Any, version: Any) -> Target:
    """The checked write target; the tenant must be the caller's (403 before all else)."""
    if tenant is None:
        tenant = who.tenant
    if not isinstance(tenant, str):
        raise InvalidParameter("tenant_id: expected a string", field="tenant_id")
    check_path_tenant(tenant, who)
    if not is_valid_tenant(tenant):  # unreachable for a verified credential; kept as a guard
        raise InvalidParameter("tenant_id: not a valid tenant id", field="tenant_id")
    if not isinstance(playbook_id, str) or not is_safe_id(playbook_id):
        raise InvalidParameter(
            "playbook_id: expected a safe id (letters, digits, '.', '_', '-'; no '/' or '..')",
            field="playbook_id",
        )
    if not isinstance(version, str) or parse_semver(version) is None:
        raise InvalidParameter(
            "version: expected a semantic version such as 1.2.0 (without a leading 'v')",
            field="version",
        )
    return Target(tenant, playbook_id, version)


def _path_target(request: Request, who: Principal) -> Target:
    p = request.path_params
    return _target(who, p["tenant_id"], p["playbook_id"], p["version"])


async def upload_request(request: Request) -> JSONResponse:
    who = authorize(request.headers, _keys(request), "publish")
    body = await _body(request, ("tenant_id", "playbook_id", "version", "files"))
    check_tenant_claim(body.get("tenant_id"), who.tenant)
    target = _target(who, body.get("tenant_id"), body.get("playbook_id"), body.get("version"))
    files = check_upload_paths(body.get("files"))
    out = await run_in_threadpool(_write(request).upload_urls, target, files)
    return JSONResponse(out)


async def publish(request: Request) -> JSONResponse:
    who = authorize(request.headers, _keys(request), "publish")
    body = await _body(request, ("tenant_id", "playbook_id", "version", "s3_paths", "wait"))
    check_tenant_claim(body.get("tenant_id"), who.tenant)
    target = _target(who, body.get("tenant_id"), body.get("playbook_id"), body.get("version"))
    wait = body.get("wait", False)
    if not isinstance(wait, bool):
        raise InvalidParameter("wait: expected true or false", field="wait")
    out = await run_in_threadpool(_write(request).publish, who, target, wait=wait)
    return JSONResponse(out, status_code=200 if out.get("searchable") else 202)


async def update_status(request: Request) -> JSONResponse:
    who = identify(request.headers, _keys(request))
    if not (who.has("publish") or who.has("review")):
        require_scope(who, "publish")  # the 403
    target = _path_target(request, who)
    body = await _body(request, ("status", "reason"))
    status = _text(body, "status", 40, required=True)
    reason = _text(body, "reason", MAX_REASON_CHARS)
    out = await run_in_threadpool(_write(request).change_status, who, target, status or "", reason)
    return JSONResponse(out)


async def delete_version(request: Request) -> JSONResponse:
    who = authorize(request.headers, _keys(request), "publish")
    target = _path_target(request, who)
    body = await _body(request, ("reason",))
    reason = _text(body, "reason", MAX_REASON_CHARS)
    return JSONResponse(await run_in_threadpool(_write(request).delete, who, target, reason))


async def record_stats(request: Request) -> JSONResponse:
    who = authorize(request.headers, _keys(request), "publish")
    target = _path_target(request, who)
    body = await _body(request, ("success", "duration_ms", "error"))
    success = body.get("success")
    if not isinstance(success, bool):
        raise InvalidParameter("success: required, true or false", field="success")
    extra: dict[str, Any] = {}
    duration = body.get("duration_ms")
    if duration is not None:
        if (
            isinstance(duration, bool)
            or not isinstance(duration, int | float)
            or not 0 <= duration <= 7 * 24 * 3600 * 1000
        ):
            raise InvalidParameter(
                "duration_ms: expected a number of milliseconds >= 0", field="duration_ms"
            )
        extra["duration_ms"] = duration
    error = _text(body, "error", MAX_ERROR_CHARS)
    if error is not None:
        extra["error"] = error
    out = await run_in_threadpool(_write(request).record_stats, who, target, success, extra)
    return JSONResponse(out)


async def history(request: Request) -> JSONResponse:
    who = authorize(request.headers, _keys(request), "search")
    target = _path_target(request, who)
    return JSONResponse(await run_in_threadpool(_write(request).history, target))


async def admin_reindex(request: Request) -> JSONResponse:
    authorize(request.headers, _keys(request), "admin")
    body = await _body(request, ("tenants", "library"))
    tenants = body.get("tenants")
    if tenants is not None and (
        not isinstance(tenants, list)
        or len(tenants) > 1000
        or not all(isinstance(t, str) and is_valid_tenant(t) for t in tenants)
    ):
        raise InvalidParameter("tenants: expected a list of tenant ids", field="tenants")
    library = body.get("library", tenants is None)
    if not isinstance(library, bool):
        raise InvalidParameter("library: expected true or false", field="library")
    reindexer: Reindexer = request.app.state.reindexer
    report = await run_in_threadpool(reindexer.run_now, tenants, library)
    return JSONResponse(report.to_dict())


async def admin_rollback(request: Request) -> JSONResponse:
    from indexer.snapshots import rollback

    authorize(request.headers, _keys(request), "admin")
    body = await _body(request, ("to", "collection", "dry_run"))
    to = _text(body, "to", 200, required=True)
    collection = _text(body, "collection", 200)
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidParameter("dry_run: expected true or false", field="dry_run")
    state = request.app.state
    reindexer: Reindexer = state.reindexer

    def run() -> dict[str, Any]:
        with reindexer.lock:  # never interleave with an index run of this process
            result = rollback(state.store, to or "", collection, dry_run=dry_run)
            if result.committed and result.manifest_id:
                _load(request.app, result.manifest_id)
        return result.to_dict()

    return JSONResponse(await run_in_threadpool(run))


def _load(app: Starlette, manifest_id: str) -> None:
    from serve.poller import load_manifest

    load_manifest(app, manifest_id)


WRITE_ROUTES: list[Route] = [
    Route("/api/playbook/upload/request", upload_request, methods=["POST"]),
    Route("/api/playbook/metadata/publish", publish, methods=["POST"]),
    Route(
        "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}/status",
        update_status,
        methods=["POST"],
    ),
    Route(
        "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}/history",
        history,
        methods=["GET"],
    ),
    Route(
        "/api/playbook/metadata/{tenant_id}/{playbook_id}/{version}",
        delete_version,
        methods=["DELETE"],
    ),
    Route(
        "/api/playbook/stats/{tenant_id}/{playbook_id}/{version}", record_stats, methods=["POST"]
    ),
    Route("/api/script/download", script_download, methods=["GET"]),
    Route("/api/admin/reindex", admin_reindex, methods=["POST"]),
    Route("/api/admin/rollback", admin_rollback, methods=["POST"]),
]


def credentials(settings: Settings) -> ApiKeys:
    """API keys (hashed, with scopes), token keys and the rate limiter from ``settings``."""
    scoped = settings.api_key_scopes()
    return ApiKeys(
        {k: t for k, (t, _s) in scoped.items()},
        {k: s for k, (_t, s) in scoped.items()},
        tokens=TokenKeys.from_settings(settings),
        limiter=RateLimiter(settings.rate_per_minute),
    )


def setup_write_path(
    app: Starlette,
    settings: Settings,
    *,
    tenant_sources: list[Blobs] | None = None,
    library_sources: list[Blobs] | None = None,
) -> None:
    """Call once in ``create_app`` after ``app.state.store`` / ``embedder`` are set.

    Replaces ``app.state.api_keys`` with the full credentials (so the search route also
    accepts tokens, checks the ``search`` scope and counts the rate limit). Writes go to
    the first tenant source; downloads may come from any configured source.
    """
    from indexer.build import RunReport, run_index

    ep = settings.endpoint_url
    tenants = (
        tenant_sources
        if tenant_sources is not None
        else [open_blobs(x, ep) for x in settings.tenants]
    )
    library = (
        library_sources
        if library_sources is not None
        else [open_blobs(x, ep) for x in settings.library]
    )
    if not tenants:
        raise BadRequest("no tenant source configured (PLAYBOOKS_TENANTS)")
    state = app.state
    state.api_keys = credentials(settings)
    state.tenant_sources, state.library_sources = tenants, library

    def run(only: Any, include_library: bool) -> RunReport:
        started = time.monotonic()
        report = run_index(
            store=state.store,
            library=library,
            tenants=tenants,
            embedder=state.embedder,
            include_library=include_library,
            only_tenants=only,
            command="playbooks serve (write path)",
            hnsw_min_rows=settings.hnsw_min_rows,
        )
        report.seconds = time.monotonic() - started
        return report

    state.reindexer = Reindexer(run, on_commit=lambda manifest_id: _load(app, manifest_id))
    state.write = WritePath(
        tenants[0],
        state.reindexer if settings.inprocess_reindex else None,
        upload_ttl=settings.upload_url_seconds,
        stats_debounce=settings.stats_debounce_seconds,
    )


def close_write_path(app: Starlette) -> None:
    """Stops the reindex worker (a run in progress finishes first). Blocking."""
    reindexer: Reindexer | None = getattr(app.state, "reindexer", None)
    if reindexer is not None:
        reindexer.close()
