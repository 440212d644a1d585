"""The one JSON error shape, produced by one handler for every error the server returns.

Every error response body is::

    {"error": {"code": "<stable id>", "message": "<human text>", "details": {...}},
     "request_id": "<id of this request>"}

(``details`` only when there is something to add: which field, what was expected.)
The HTTP status lives on the exception class (:mod:`indexer.errors`); :func:`handle_error`
is registered for :class:`~indexer.errors.PlaybookError`, Starlette's ``HTTPException``
(unknown route, wrong method) and ``Exception`` (anything unexpected: 500, logged with its
traceback, answered without internals).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse

from indexer.errors import (
    BadRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PlaybookError,
    Unauthorized,
    UnsupportedMediaType,
)

log = logging.getLogger("serve.errors")

REQUEST_ID_HEADER = "X-Request-ID"


class MissingCredentials(Unauthorized):
    """No usable ``Authorization: Bearer <key>`` header."""

    headers: Mapping[str, str] = {"WWW-Authenticate": 'Bearer realm="playbooks"'}


class InvalidCredentials(Unauthorized):
    """A bearer key that no tenant holds."""

    headers: Mapping[str, str] = {
        "WWW-Authenticate": 'Bearer realm="playbooks", error="invalid_token"'
    }


class InternalError(PlaybookError):
    """Anything unexpected; the message never carries internals."""

    status = 500
    code = "internal_error"


class HTTPStatusError(PlaybookError):
    """A Starlette ``HTTPException`` with a status this module has no class for."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.status = status
        self.code = f"http_{status}"


_HTTP_CLASSES: Mapping[int, type[PlaybookError]] = {
    400: BadRequest,
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def request_id_of(request: Request) -> str | None:
    """The id :class:`serve.middleware.RequestContext` gave this request (None outside it)."""
    context = request.scope.get("serve.context")
    return context.get("request_id") if isinstance(context, dict) else None


def _from_http_exception(request: Request, exc: HTTPException) -> PlaybookError:
    method, path = request.method, request.url.path
    if exc.status_code == 404:
        return NotFound(f"no route {path}", path=path)
    if exc.status_code == 405:
        allowed = sorted(
            m.strip() for m in (exc.headers or {}).get("Allow", "").split(",") if m.strip()
        )
        return MethodNotAllowed(
            f"{method} is not allowed on {path}", method=method, allowed=allowed
        )
    cls = _HTTP_CLASSES.get(exc.status_code)
    if cls is not None:
        return cls(exc.detail)
    return HTTPStatusError(exc.status_code, exc.detail)


def to_playbook_error(request: Request, exc: Exception) -> PlaybookError:
    """Any exception as the domain error it stands for (unexpected ones become 500)."""
    if isinstance(exc, PlaybookError):
        return exc
    if isinstance(exc, HTTPException):
        return _from_http_exception(request, exc)
    log.error(
        "unhandled exception on %s %s",
        request.method,
        request.url.path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"request_id": request_id_of(request)},
    )
    return InternalError("internal server error; the request id identifies it in the logs")


def error_body(error: PlaybookError, request_id: str | None) -> dict[str, Any]:
    return {"error": error.to_dict(), "request_id": request_id}


def error_response(request: Request, exc: Exception) -> JSONResponse:
    """Every error as one response: the shape above, the status from the error's class."""
    error = to_playbook_error(request, exc)
    request_id = request_id_of(request)
    headers = dict(getattr(error, "headers", None) or {})
    if isinstance(exc, HTTPException) and exc.headers:
        headers = {**exc.headers, **headers}
    if request_id:
        headers[REQUEST_ID_HEADER] = request_id
    return JSONResponse(error_body(error, request_id), status_code=error.status, headers=headers)


async def handle_error(request: Request, exc: Exception) -> JSONResponse:
    """The one exception handler Starlette calls (see :data:`EXCEPTION_HANDLERS`)."""
    return error_response(request, exc)


EXCEPTION_HANDLERS: Mapping[Any, Any] = {
    PlaybookError: handle_error,
    HTTPException: handle_error,
    Exception: handle_error,
}
