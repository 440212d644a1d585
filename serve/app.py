"""The HTTP application: routes, start-up, and the one reference to the live generation.

``create_app(settings)`` builds a Starlette app; on start-up (lifespan) it loads the
manifest named by ``settings.manifest`` or by the store's CURRENT, with the query embedder
that manifest calls for (:mod:`serve.query_models`: its ONNX query model, or torch, which
is then loaded; a server answering with ONNX never imports torch).
If that fails (an empty store, a bad checksum, another model) the server still starts:
``/healthz`` answers 200, ``/readyz`` and searches 503 with the load error, and the log
says why. The live :class:`~serve.generation.Generation` is one attribute,
``app.state.generation``: a swap is one assignment (:func:`swap_generation`), and each
request takes it once (:class:`serve.poller.InFlight`), so it finishes on the generation
it started with. Unless a manifest is pinned, a :class:`serve.poller.ManifestPoller`
follows CURRENT every ``poll_seconds`` and hot-swaps new manifests.

Each search is counted in :mod:`serve.metrics` and appended to the query log
(:mod:`serve.querylog`), which a background thread flushes to the store.

The optional LLM pass (``app.state.llm``, None unless ``PLAYBOOKS_LLM_PROVIDER`` is set)
extracts the query's intent (merged into the rule-based one before the cheap ranking) and
re-ranks a search's top results when the request says ``"rerank": true``
(:mod:`serve.rerank_step`); every response says what it did in ``llm_intent`` and ``rerank``.

Routes: ``POST /api/playbook/search``, ``GET /api/stats`` (:mod:`serve.stats_route`),
``GET /healthz``, ``GET /readyz``, ``GET /metrics``, ``GET /openapi.json``
(:mod:`serve.openapi`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from indexer.blobs import open_blobs
from indexer.errors import NotReady, PlaybookError, StoreError
from indexer.settings import Settings, load_settings, to_environ
from indexer.store import Store
from serve.auth import ApiKeys, authenticate, check_tenant_claim
from serve.errors import EXCEPTION_HANDLERS
from serve.fastjson import FastJSONResponse
from serve.generation import Generation
from serve.llm import LLMPass
from serve.logs import configure_logging
from serve.metrics import CONTENT_TYPE, Metrics
from serve.middleware import CLIENT_CLOSED_REQUEST, RequestContext, context_of
from serve.openapi import openapi_document
from serve.poller import (
    InFlight,
    ManifestPoller,
    load_manifest,
    readiness_details,
    swap_generation,
)
from serve.query_models import LazyTorchEmbedder, QueryModels
from serve.querylog import QueryLog, search_record
from serve.request import SearchRequest, parse_search_request, read_json_body
from serve.rerank_step import apply_llm_pass, extract_llm_intent, mark_intent, remaining_budget
from serve.runtime import single_threaded_math
from serve.search import run_search
from serve.stats_route import StatsCache, api_stats
from serve.write_api import WRITE_ROUTES, close_write_path, setup_write_path

log = logging.getLogger("serve.app")

__all__ = ["create_app", "load_current", "run", "swap_generation"]


def _not_ready(app: Starlette) -> NotReady:
    error: PlaybookError | None = app.state.load_error
    details = {"load_error": error.to_dict()} if error is not None else {}
    return NotReady("no snapshot is loaded; searches are unavailable", **details)


def load_current(app: Starlette) -> None:
    """Load the pinned manifest or CURRENT's; on failure keep serving what was live."""
    settings: Settings = app.state.settings
    store: Store = app.state.store
    try:
        manifest_id = settings.manifest or store.current().manifest_id
        if manifest_id is None:
            raise NotReady(
                f"the store {store.uri} has no manifests/CURRENT yet; run the "
                "indexer (playbooks index) to publish a snapshot",
                store=store.uri,
            )
    except PlaybookError as exc:
        app.state.load_error = exc
        log.error("no snapshot loaded: %s", exc.message, extra={"error": exc.to_dict()})
        return
    except Exception as exc:  # an unreadable store: report, keep serving
        app.state.load_error = StoreError(f"reading {store.uri} CURRENT failed: {exc}")
        log.exception("no snapshot loaded")
        return
    load_manifest(app, manifest_id, initial=True)


def _start(app: Starlette) -> None:
    single_threaded_math()
    if not len(app.state.api_keys):
        log.warning(
            "no API keys configured (PLAYBOOKS_API_KEYS / PLAYBOOKS_API_KEYS_FILE): "
            "every search will be refused with 401"
        )
    load_current(app)
    if app.state.querylog is not None:
        app.state.querylog.start()


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    if app.state.llm_closed:  # started again after a shutdown closed its HTTP client
        app.state.llm = LLMPass.from_settings(settings)
        app.state.llm_closed = False
    await run_in_threadpool(_start, app)
    poll: asyncio.Task[None] | None = None
    if settings.poll_seconds > 0 and not settings.manifest:
        poller = ManifestPoller(app, settings.poll_seconds, settings.reload_retry_seconds)
        app.state.poller = poller
        poll = asyncio.create_task(poller.run(), name="manifest-poller")
    try:
        yield
    finally:
        await run_in_threadpool(close_write_path, app)
        if poll is not None:
            poll.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poll
        previous = swap_generation(app, None)
        if previous is not None:
            app.state.in_flight.retire(previous)
        if app.state.querylog is not None:
            await run_in_threadpool(app.state.querylog.close)
        llm: LLMPass | None = app.state.llm
        if llm is not None:
            await llm.aclose()
            app.state.llm_closed = True


def _filters_of(query: SearchRequest | None) -> dict[str, Any] | None:
    filters = getattr(query, "filters", None)
    if filters is None or not dataclasses.is_dataclass(filters):
        return None
    out = {}
    for f in dataclasses.fields(filters):
        value = getattr(filters, f.name)
        if value:
            out[f.name] = dict(value) if f.name == "tags" else value
    return out


async def search(request: Request) -> JSONResponse:
    state = request.app.state
    settings: Settings = state.settings
    started, ts = time.perf_counter(), datetime.now(UTC)
    tenant = authenticate(request.headers, state.api_keys)
    context = context_of(request)
    context["tenant"] = tenant
    query: SearchRequest | None = None
    result: dict[str, Any] | None = None
    status = 500
    try:
        body = await read_json_body(request, settings.max_body_bytes)
        query = parse_search_request(body, settings)
        check_tenant_claim(query.tenant_id, tenant)
        # Before the generation is taken: a swap need not wait for the model.
        llm_started = time.perf_counter()
        llm_intent, intent_outcome = await extract_llm_intent(
            query, state.llm, budget_s=settings.llm_budget_seconds
        )
        with state.in_flight.use(request.app) as generation:  # one generation per request
            if generation is None:
                raise _not_ready(request.app)
            context["manifest_id"] = generation.manifest_id
            embedder = generation.query_embedder or state.embedder
            result = await run_in_threadpool(
                run_search, generation, embedder, query, tenant, llm_intent=llm_intent
            )
            manifest_id = generation.manifest_id
        mark_intent(result, intent_outcome)
        # Outside the generation: a swap need not wait for the model.
        result = await apply_llm_pass(
            result,
            query,
            state.llm,
            manifest_id=manifest_id,
            tenant=tenant,
            budget_s=remaining_budget(settings.llm_budget_seconds, llm_started),
        )
        status = 200
    except PlaybookError as exc:
        status = exc.status
        raise
    except ClientDisconnect:
        status = CLIENT_CLOSED_REQUEST
        raise
    finally:
        _log_query(request, tenant, query, result, status, started, ts)
    context["results"] = len(result["results"])
    state.metrics.observe_search(result)
    return FastJSONResponse(result)


def _log_query(
    request: Request,
    tenant: str,
    query: SearchRequest | None,
    result: dict[str, Any] | None,
    status: int,
    started: float,
    ts: datetime,
) -> None:
    querylog: QueryLog | None = request.app.state.querylog
    if querylog is None:
        return
    context = context_of(request)
    querylog.append(
        search_record(
            ts=ts,
            request_id=context.get("request_id"),
            tenant=tenant,
            query=query.query if query is not None else None,
            filters=_filters_of(query),
            response=result,
            manifest_id=context.get("manifest_id"),
            latency_ms=(time.perf_counter() - started) * 1000,
            status_code=status,
            keep_text=request.app.state.settings.querylog_store_query_text,
        )
    )


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    generation: Generation | None = request.app.state.generation
    if generation is None:
        error = _not_ready(request.app)
        error.details.update(readiness_details(request.app))
        raise error
    return JSONResponse(
        {
            "status": "ready",
            "manifest_id": generation.manifest_id,
            "collections": generation.row_counts(),
            "query_embedder": _query_embedder(request.app, generation),
            **readiness_details(request.app),
        }
    )


def _query_embedder(app: Starlette, generation: Generation) -> dict[str, Any]:
    embedder = generation.query_embedder or app.state.embedder
    models: QueryModels = app.state.query_models
    return models.describe(embedder, generation.manifest_id)


async def metrics(request: Request) -> Response:
    state = request.app.state
    generation: Generation | None = state.generation
    live = (generation.query_embedder or state.embedder) if generation is not None else None
    body = state.metrics.render() + state.query_models.render_metrics(live)
    return Response(body, media_type=CONTENT_TYPE)


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


ROUTES = [
    Route("/api/playbook/search", search, methods=["POST"]),
    Route("/api/stats", api_stats, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]


def _served_manifest(app: Starlette) -> tuple[str, str] | None:
    generation: Generation | None = app.state.generation
    if generation is None:
        return None
    return generation.manifest_id, generation.manifest.created_at


def create_app(
    settings: Settings, *, embedder: Any = None, store: Store | None = None
) -> Starlette:
    """The app for ``settings``; ``embedder`` (the torch side: indexing, and searches of
    manifests without an ONNX query model) and ``store`` default to the configured ones."""
    holder: dict[str, Starlette] = {}
    app_metrics = Metrics(lambda: _served_manifest(holder["app"]))
    app = Starlette(
        routes=[*ROUTES, *WRITE_ROUTES],
        middleware=[Middleware(RequestContext, metrics=app_metrics)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=_lifespan,
    )
    holder["app"] = app
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.api_keys = ApiKeys(settings.api_key_map())
    # Torch loads only if a manifest is served with it (serve.query_models).
    app.state.embedder = (
        embedder
        if embedder is not None
        else LazyTorchEmbedder(settings.model_path, settings.embed_batch_size)
    )
    app.state.store = store or Store(open_blobs(settings.store, settings.endpoint_url))
    app.state.query_models = QueryModels.from_settings(
        settings, app.state.store, app.state.embedder
    )
    app.state.generation = None
    app.state.load_error = None
    app.state.failed_manifest_id = None
    app.state.last_load_error = None
    app.state.in_flight = InFlight()
    app.state.stats_cache = StatsCache()
    app.state.poller = None
    app.state.llm = LLMPass.from_settings(settings)  # None: the LLM pass is off
    app.state.llm_closed = False
    app.state.querylog = (
        QueryLog(
            app.state.store.blobs,
            app_metrics,
            flush_seconds=settings.querylog_flush_seconds,
            capacity=settings.querylog_buffer_records,
            retention_days=settings.querylog_retention_days,
        )
        if settings.querylog
        else None
    )
    app.state.openapi = openapi_document(
        max_limit=settings.max_limit,
        default_limit=settings.default_limit,
        max_query_chars=settings.max_query_chars,
        max_filter_values=settings.max_filter_values,
    )
    setup_write_path(app, settings)
    return app


class _Stopped(Exception):
    """A SIGINT/SIGTERM reached us after uvicorn's graceful shutdown (it re-raises them)."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def app_from_environment() -> Starlette:
    """The app of a worker process (``workers`` > 1): settings from the ``PLAYBOOKS_*``
    variables the parent set (:func:`indexer.settings.to_environ`)."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)


def run(settings: Settings) -> None:
    """Serve ``settings`` with uvicorn until SIGINT/SIGTERM.

    A signal starts uvicorn's graceful shutdown (in-flight requests finish, the lifespan
    closes the generation); the process then returns normally, so it exits with status 0.
    With ``workers`` > 1, uvicorn's supervisor starts that many worker processes on the
    same socket, each building its app from the parent's settings
    (:func:`app_from_environment`), and restarts any that dies.
    """
    import uvicorn

    configure_logging(settings.log_level, settings.log_json)
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 10,
    }
    try:
        log.info(
            "starting on %s:%s",
            settings.host,
            settings.port,
            extra={
                "store": settings.store,
                "manifest": settings.manifest,
                "workers": settings.workers,
            },
        )
        if settings.workers > 1:
            os.environ.update(to_environ(settings))  # what the workers read
            uvicorn.run(
                "serve.app:app_from_environment",
                factory=True,
                workers=settings.workers,
                **options,
            )
        else:
            uvicorn.run(create_app(settings), **options)
    except _Stopped as stopped:
        log.info("stopped by %s", signal.Signals(stopped.args[0]).name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
