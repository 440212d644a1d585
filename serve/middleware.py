"""Per-request context: a request id, one JSON access-log line, and the last-resort 500.

:class:`RequestContext` is the outermost middleware the app adds. For every HTTP request
it

- takes the incoming ``X-Request-ID`` when it is a short safe token, else makes one, and
  returns it in the ``X-Request-ID`` response header (and the error body's ``request_id``);
- keeps a small dict at ``scope["serve.context"]`` that the endpoints fill in (tenant,
  manifest id) so the access line can say who asked what of which generation;
- turns any exception that escaped every handler into the one error shape (a 500), so
  nothing reaches the client as plain text (a client that disconnected mid-body gets
  nothing and is logged with status 499);
- logs one ``serve.access`` record per request: method, path, route, status, duration, ids;
- counts it in :class:`serve.metrics.Metrics` (when given) under its route *template*
  (``/api/playbook/search``), never the raw path, so label values stay bounded.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve.errors import REQUEST_ID_HEADER, error_response
from serve.metrics import UNMATCHED_ROUTE, Metrics

access_log = logging.getLogger("serve.access")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED_REQUEST = 499  # logged only (nginx's code): the client went away mid-request
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id(incoming: str | None) -> str:
    """``incoming`` when it is a short safe token (so ids join up across services)."""
    if incoming and _SAFE_REQUEST_ID.match(incoming):
        return incoming
    return uuid.uuid4().hex


def context_of(request: Request) -> dict[str, Any]:
    """The mutable per-request dict (an empty throwaway outside :class:`RequestContext`)."""
    context = request.scope.get("serve.context")
    return context if isinstance(context, dict) else {}


def route_template(scope: Scope) -> str:
    """The matched route's path template (set by Starlette's router), else one shared label."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContext:
    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id(Headers(scope=scope).get(REQUEST_ID_HEADER))
        context: dict[str, Any] = {"request_id": request_id}
        scope["serve.context"] = context
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            status = status or CLIENT_CLOSED_REQUEST  # nobody is left to answer
        except Exception as exc:
            if status is not None:  # too late for an error body: let the server close it
                raise
            await error_response(Request(scope), exc)(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            if self.metrics is not None:
                method = scope["method"] if scope["method"] in _METHODS else "OTHER"
                self.metrics.http_requests.inc(
                    route=route, method=method, status=str(status or 500)
                )
                self.metrics.http_duration.observe(duration, route=route)
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status or 500,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "route": route,
                    "status": status or 500,
                    "duration_ms": round(duration * 1000, 2),
                    "client": (scope.get("client") or ("", 0))[0],
                    **{k: v for k, v in context.items() if k != "request_id"},
                },
            )
