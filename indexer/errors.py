"""Domain errors shared by the indexer, the CLI and the server.

Every error carries an HTTP ``status``, a stable machine ``code`` and a human message; the
server turns any of them into the one JSON error shape (see ``serve.errors``) and the CLI
into a one-line message and exit code. ``details`` names the file, field or parameter and
what was expected.
"""

from __future__ import annotations

from typing import Any


class PlaybookError(Exception):
    """Base class: ``status`` is the HTTP status, ``code`` a stable identifier."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class BadRequest(PlaybookError):
    status = 400
    code = "bad_request"


class Unauthorized(PlaybookError):
    status = 401
    code = "unauthorized"


class Forbidden(PlaybookError):
    status = 403
    code = "forbidden"


class NotFound(PlaybookError):
    status = 404
    code = "not_found"


class MethodNotAllowed(PlaybookError):
    status = 405
    code = "method_not_allowed"


class Conflict(PlaybookError):
    status = 409
    code = "conflict"


class PayloadTooLarge(PlaybookError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(PlaybookError):
    status = 415
    code = "unsupported_media_type"


class InvalidParameter(PlaybookError):
    """A request field is present but has the wrong type or value (HTTP 422)."""

    status = 422
    code = "invalid_parameter"


class TooManyRequests(PlaybookError):
    status = 429
    code = "too_many_requests"


class NotReady(PlaybookError):
    """No snapshot is loaded yet (HTTP 503)."""

    status = 503
    code = "not_ready"


class ConfigError(PlaybookError):
    """A setting is missing or malformed; raised at start-up, before serving."""

    status = 500
    code = "config_error"


class StoreError(PlaybookError):
    """The store is unreadable, inconsistent, or a checksum does not match."""

    status = 500
    code = "store_error"


class ChecksumMismatch(StoreError):
    code = "checksum_mismatch"


class CommitConflict(StoreError):
    """CURRENT moved under us: the compare-and-swap lost (retry after rebasing)."""

    status = 409
    code = "commit_conflict"


class SourceError(PlaybookError):
    """A playbook source (local folder or S3 prefix) could not be read."""

    status = 502
    code = "source_error"
