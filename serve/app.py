"""The HTTP application: routes, start-up, and the one reference to the live generation.

``create_app(settings)`` builds a Starlette app; on start-up (lifespan) it warms the
embedder and loads the manifest named by ``settings.manifest`` or by the store's CURRENT.
If that fails (an empty store, a bad checksum, another model) the server still starts:
``/healthz`` answers 200, ``/readyz`` and searches 503 with the load error, and the log
says why. The live :class:`~serve.generation.Generation` is one attribute,
``app.state.generation``: a swap is one assignment (:func:`swap_generation`), and each
request reads it once, so it finishes on the generation it started with.

Routes: ``POST /api/playbook/search``, ``GET /healthz``, ``GET /readyz``,
``GET /openapi.json`` (see :mod:`serve.openapi`).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.errors import NotReady, PlaybookError, StoreError
from indexer.settings import Settings
from indexer.store import Store
from serve.auth import ApiKeys, authenticate, check_tenant_claim
from serve.errors import EXCEPTION_HANDLERS
from serve.generation import Generation, load_generation
from serve.logs import configure_logging
from serve.middleware import RequestContext, context_of
from serve.openapi import openapi_document
from serve.request import parse_search_request, read_json_body
from serve.search import run_search

log = logging.getLogger("serve.app")


def _not_ready(app: Starlette) -> NotReady:
    error: PlaybookError | None = app.state.load_error
    details = {"load_error": error.to_dict()} if error is not None else {}
    return NotReady("no snapshot is loaded; searches are unavailable", **details)


def swap_generation(app: Starlette, generation: Generation | None) -> Generation | None:
    """Make ``generation`` the live one; returns the previous (still used by in-flight
    requests, so the caller must not close it before they finish)."""
    previous: Generation | None = app.state.generation
    app.state.generation = generation
    if generation is not None:
        app.state.load_error = None
    return previous


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
        generation = load_generation(store, manifest_id, app.state.embedder.identity)
    except PlaybookError as exc:
        app.state.load_error = exc
        log.error("no snapshot loaded: %s", exc.message, extra={"error": exc.to_dict()})
        return
    except Exception as exc:  # an unreadable file, a library error: report, keep serving
        app.state.load_error = StoreError(f"loading the snapshot failed: {exc}")
        log.exception("no snapshot loaded")
        return
    swap_generation(app, generation)
    log.info(
        "serving manifest %s",
        generation.manifest_id,
        extra={"manifest_id": generation.manifest_id, "collections": generation.row_counts()},
    )


def _start(app: Starlette) -> None:
    if not len(app.state.api_keys):
        log.warning(
            "no API keys configured (PLAYBOOKS_API_KEYS / PLAYBOOKS_API_KEYS_FILE): "
            "every search will be refused with 401"
        )
    warm = getattr(app.state.embedder, "warm", None)
    if callable(warm):
        warm()
    load_current(app)


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    await run_in_threadpool(_start, app)
    yield
    previous = swap_generation(app, None)
    if previous is not None:
        previous.close()


async def search(request: Request) -> JSONResponse:
    state = request.app.state
    settings: Settings = state.settings
    tenant = authenticate(request.headers, state.api_keys)
    context = context_of(request)
    context["tenant"] = tenant
    body = await read_json_body(request, settings.max_body_bytes)
    query = parse_search_request(body, settings)
    check_tenant_claim(query.tenant_id, tenant)
    generation: Generation | None = state.generation  # read once: a swap cannot split us
    if generation is None:
        raise _not_ready(request.app)
    context["manifest_id"] = generation.manifest_id
    result = await run_in_threadpool(run_search, generation, state.embedder, query, tenant)
    context["results"] = len(result["results"])
    return JSONResponse(result)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    generation: Generation | None = request.app.state.generation
    if generation is None:
        raise _not_ready(request.app)
    return JSONResponse(
        {
            "status": "ready",
            "manifest_id": generation.manifest_id,
            "collections": generation.row_counts(),
        }
    )


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.state.openapi)


ROUTES = [
    Route("/api/playbook/search", search, methods=["POST"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
]


def create_app(
    settings: Settings, *, embedder: Any = None, store: Store | None = None
) -> Starlette:
    """The app for ``settings``; ``embedder``/``store`` default to the configured ones."""
    app = Starlette(
        routes=ROUTES,
        middleware=[Middleware(RequestContext)],
        exception_handlers=dict(EXCEPTION_HANDLERS),
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(settings.api_key_map())
    app.state.embedder = embedder if embedder is not None else Embedder(settings.model_path)
    app.state.store = store or Store(open_blobs(settings.store, settings.endpoint_url))
    app.state.generation = None
    app.state.load_error = None
    app.state.openapi = openapi_document(
        max_limit=settings.max_limit,
        default_limit=settings.default_limit,
        max_query_chars=settings.max_query_chars,
        max_filter_values=settings.max_filter_values,
    )
    return app


class _Stopped(Exception):
    """A SIGINT/SIGTERM reached us after uvicorn's graceful shutdown (it re-raises them)."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped(signum)


def run(settings: Settings) -> None:
    """Serve ``settings`` with uvicorn until SIGINT/SIGTERM.

    A signal starts uvicorn's graceful shutdown (in-flight requests finish, the lifespan
    closes the generation); the process then returns normally, so it exits with status 0.
    """
    import uvicorn

    configure_logging(settings.log_level, settings.log_json)
    previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        app = create_app(settings)
        log.info(
            "starting on %s:%s",
            settings.host,
            settings.port,
            extra={"store": settings.store, "manifest": settings.manifest},
        )
        uvicorn.run(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    except _Stopped as stopped:
        log.info("stopped by %s", signal.Signals(stopped.args[0]).name)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
