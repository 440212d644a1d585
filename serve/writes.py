"""The write path's operations: upload URLs, publish, status, stats, delete, history.

Each operation takes an already authorised caller (:class:`~serve.tokens.Principal`)
whose tenant is the one written to, checks the request against the source of truth (the
tenant source folder or bucket plus its event log, :mod:`indexer.events`), appends
events, and asks the :class:`~serve.reindex.Reindexer` for an incremental reindex of that
tenant. Nothing here edits a snapshot, a manifest or a playbook's files.

Rules enforced here (the HTTP layer, :mod:`serve.write_api`, parses and authorises):

- publish validates the uploaded folder exactly as the indexer does
  (:func:`indexer.validate.validate_folder`); an invalid folder is 422 with every problem;
- a version is published once (409 after that; publish a new version instead) and its
  upload URLs are refused once it is published;
- without the ``review`` scope a publish must be ``pending_review`` /
  ``uploaded_for_review`` (a publisher cannot skip review); with it, ``active`` /
  ``approved`` too;
- status changes follow :data:`indexer.events.TRANSITIONS` (409 lists the allowed
  targets); leaving ``pending_review`` needs ``review``; ``rejected`` needs a reason;
- a version becoming ``active`` deprecates the older ``active`` versions of its playbook;
- writes to one tenant are serialised in this process (a lock per tenant).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from indexer.blobs import BlobNotFound, Blobs
from indexer.crawl import crawl_version
from indexer.errors import Conflict, Forbidden, InvalidParameter, NotFound
from indexer.events import (
    REASON_REQUIRED,
    REVIEW_TRANSITIONS,
    Event,
    EventLog,
    VersionState,
    allowed_targets,
    fold_version,
    group_events,
)
from indexer.model import STATUSES, parse_semver, version_sort_key
from indexer.validate import validate_folder
from serve.presign import presign_put
from serve.reindex import Reindexer, Ticket
from serve.tokens import Principal

PUBLISHABLE_WITHOUT_REVIEW: Final = (("pending_review", "uploaded_for_review"),)
PUBLISHABLE_STATUSES: Final = ("pending_review", "active", "approved")
WAIT_SECONDS: Final = 60.0


class InvalidPlaybook(InvalidParameter):
    """The uploaded folder failed validation (422, with every problem found)."""

    code = "invalid_playbook"


@dataclass
class Target:
    tenant: str
    playbook_id: str
    version: str

    @property
    def prefix(self) -> str:
        return f"tenants/{self.tenant}/playbooks/{self.playbook_id}/v{self.version}"

    def to_dict(self) -> dict[str, str]:
        return {"tenant_id": self.tenant, "playbook_id": self.playbook_id, "version": self.version}


class WritePath:
    """Writes for every tenant of one tenant source root (the first configured one)."""

    def __init__(
        self,
        source: Blobs,
        reindexer: Reindexer | None,
        *,
        upload_ttl: int = 900,
        stats_debounce: float = 10.0,
    ) -> None:
        self.source = source
        self.log = EventLog(source)
        self.reindexer = reindexer
        self.upload_ttl = upload_ttl
        self.stats_debounce = stats_debounce
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    @contextmanager
    def _tenant_lock(self, tenant: str) -> Any:
        with self._locks_lock:
            lock = self._locks.setdefault(tenant, threading.Lock())
        with lock:
            yield

    # ----- reading the source of truth --------------------------------------------------
    def _metadata(self, prefix: str) -> dict[str, Any] | None:
        try:
            doc = json.loads(self.source.read(f"{prefix}/metadata.json"))
        except (BlobNotFound, ValueError, UnicodeDecodeError):
            return None
        return doc if isinstance(doc, dict) else None

    def _events(self, t: Target) -> list[Event]:
        return group_events(self.log.events(t.tenant)).get((t.playbook_id, t.version), [])

    def state(self, t: Target) -> tuple[dict[str, Any], VersionState, list[Event]]:
        """The version's metadata, folded state and events; 404 when absent or deleted."""
        metadata = self._metadata(t.prefix)
        if metadata is None:
            raise NotFound(
                f"no playbook version {t.playbook_id} v{t.version} in tenant {t.tenant}",
                **t.to_dict(),
            )
        events = self._events(t)
        state = fold_version(metadata, events)
        if state.deleted:
            raise NotFound(
                f"playbook version {t.playbook_id} v{t.version} was deleted", **t.to_dict()
            )
        return metadata, state, events

    # ----- operations -------------------------------------------------------------------
    def upload_urls(self, t: Target, files: Sequence[str]) -> dict[str, Any]:
        prior = fold_version({}, self._events(t))
        if prior.published and not prior.deleted:
            raise Conflict(
                f"{t.playbook_id} v{t.version} is already published; versions "
                "are immutable: upload a new version",
                **t.to_dict(),
            )
        signed = presign_put(self.source, [f"{t.prefix}/{f}" for f in files], self.upload_ttl)
        urls = {f: signed[f"{t.prefix}/{f}"].url for f in files}
        expires = min((s.expires_at for s in signed.values()), default=0)
        return {
            **t.to_dict(),
            "prefix": self.source.uri_for(f"{t.prefix}/"),
            "urls": urls,
            "method": "PUT",
            "expires_in": self.upload_ttl,
            "expires_at": expires,
        }

    def publish(self, who: Principal, t: Target, *, wait: bool) -> dict[str, Any]:
        started = time.monotonic()
        with self._tenant_lock(t.tenant):
            folder, rejections = crawl_version(self.source, t.tenant, t.playbook_id, t.version)
            if folder is None and not rejections:
                raise NotFound(
                    f"nothing was uploaded under {self.source.uri_for(t.prefix)}/", **t.to_dict()
                )
            checked = validate_folder(folder) if folder is not None else rejections
            if isinstance(checked, list):
                raise InvalidPlaybook(
                    f"{t.playbook_id} v{t.version} failed validation ({len(checked)} "
                    "problem(s)); nothing was published",
                    rejections=[r.to_dict() for r in checked],
                    **t.to_dict(),
                )
            meta = checked.metadata
            status, strategy = meta["status"], meta["storage_strategy"]
            if (status, strategy) not in PUBLISHABLE_WITHOUT_REVIEW and not who.has("review"):
                raise Forbidden(
                    f"publishing with status {status!r} / storage_strategy {strategy!r} needs "
                    "the 'review' scope; publish as pending_review / uploaded_for_review",
                    required_scope="review",
                )
            if status not in PUBLISHABLE_STATUSES:
                raise InvalidParameter(
                    f"status: a published version must be one of "
                    f"{', '.join(PUBLISHABLE_STATUSES)}; got {status!r}",
                    field="status",
                    allowed=list(PUBLISHABLE_STATUSES),
                )
            prior = fold_version(meta, self._events(t))
            if prior.published and not prior.deleted:
                raise Conflict(
                    f"{t.playbook_id} v{t.version} is already published; publish a new version",
                    **t.to_dict(),
                )
            files = [
                {"path": s.path, "sha256": s.sha256, "size_bytes": s.size_bytes}
                for s in checked.scripts
            ]
            event = self._append(
                who,
                t,
                "published",
                None,
                {"status": status, "storage_strategy": strategy, "scripts": files},
            )
            deprecated = self._deprecate_older(who, t) if status == "active" else []
            ticket = self._reindex(t.tenant)
        out = {
            **t.to_dict(),
            "status": status,
            "storage_strategy": strategy,
            "event": event.to_dict(),
            "deprecated": deprecated,
            "scripts": files,
        }
        return {**out, **self._reindex_outcome(ticket, wait, started)}

    def change_status(
        self, who: Principal, t: Target, status: str, reason: str | None
    ) -> dict[str, Any]:
        if status not in STATUSES:
            raise InvalidParameter(
                f"status: expected one of {', '.join(STATUSES)}, got {status!r}",
                field="status",
                allowed=list(STATUSES),
            )
        with self._tenant_lock(t.tenant):
            _meta, state, _events = self.state(t)
            allowed = list(allowed_targets(state.status))
            if status not in allowed:
                raise Conflict(
                    f"cannot change {t.playbook_id} v{t.version} from {state.status} to "
                    f"{status}; allowed: {', '.join(allowed) or 'none (terminal)'}",
                    current=state.status,
                    requested=status,
                    allowed=allowed,
                )
            needs = "review" if (state.status, status) in REVIEW_TRANSITIONS else "publish"
            if not who.has(needs) and not who.has("review"):
                raise Forbidden(
                    f"moving {state.status} -> {status} needs the {needs!r} scope",
                    required_scope=needs,
                )
            if status in REASON_REQUIRED and not reason:
                raise InvalidParameter(
                    f"reason: required when the status becomes {status}", field="reason"
                )
            event = self._append(
                who, t, "status", reason, {"status": status, "previous": state.status}
            )
            deprecated = self._deprecate_older(who, t) if status == "active" else []
            ticket = self._reindex(t.tenant)
        storage = "uploaded_trusted" if status == "approved" else state.storage_strategy
        return {
            **t.to_dict(),
            "previous": state.status,
            "status": status,
            "storage_strategy": storage,
            "event": event.to_dict(),
            "deprecated": deprecated,
            "reindex": self._ticket_info(ticket),
        }

    def record_stats(
        self, who: Principal, t: Target, success: bool, extra: dict[str, Any]
    ) -> dict[str, Any]:
        with self._tenant_lock(t.tenant):
            meta, state, events = self.state(t)
            event = self._append(who, t, "stats", None, {"success": success, **extra})
            after = fold_version(meta, [*events, event])
            broke = after.status == "broken" and state.status != "broken"
            # A burst of executions coalesces into one reindex; going broken hides the
            # version from search, so that one is not delayed.
            ticket = self._reindex(t.tenant, 0.0 if broke else self.stats_debounce)
        return {
            **t.to_dict(),
            **after.to_dict(),
            "marked_broken": broke,
            "event": event.to_dict(),
            "reindex": self._ticket_info(ticket),
        }

    def delete(self, who: Principal, t: Target, reason: str | None) -> dict[str, Any]:
        with self._tenant_lock(t.tenant):
            _meta, state, _events = self.state(t)
            event = self._append(who, t, "deleted", reason, {"previous": state.status})
            ticket = self._reindex(t.tenant)
        return {
            **t.to_dict(),
            "deleted": True,
            "event": event.to_dict(),
            "reindex": self._ticket_info(ticket),
        }

    def history(self, t: Target) -> dict[str, Any]:
        metadata = self._metadata(t.prefix)
        events = self._events(t)
        if metadata is None and not events:
            raise NotFound(
                f"no playbook version {t.playbook_id} v{t.version} in tenant {t.tenant}",
                **t.to_dict(),
            )
        state = fold_version(metadata or {}, events)
        return {**t.to_dict(), "state": state.to_dict(), "history": state.history}

    # ----- helpers ----------------------------------------------------------------------
    def _append(
        self, who: Principal, t: Target, kind: str, reason: str | None, payload: dict[str, Any]
    ) -> Event:
        return self.log.append(
            Event(kind, t.tenant, t.playbook_id, t.version, who.sub, time.time(), reason, payload)
        )

    def _deprecate_older(self, who: Principal, t: Target) -> list[str]:
        """Older ``active`` versions of ``t``'s playbook become ``deprecated``."""
        by_version = group_events(self.log.events(t.tenant))
        base = f"tenants/{t.tenant}/playbooks/{t.playbook_id}"
        done: list[str] = []
        for vdir in self.source.list_dirs(base):
            version = vdir[1:]
            if (
                not vdir.startswith("v")
                or parse_semver(version) is None
                or version_sort_key(version) >= version_sort_key(t.version)
            ):
                continue
            meta = self._metadata(f"{base}/{vdir}")
            if meta is None:
                continue
            state = fold_version(meta, by_version.get((t.playbook_id, version), []))
            if not state.deleted and state.status == "active":
                self._append(
                    who,
                    Target(t.tenant, t.playbook_id, version),
                    "status",
                    f"superseded by v{t.version}",
                    {"status": "deprecated", "previous": "active"},
                )
                done.append(version)
        return done

    def _reindex(self, tenant: str, delay: float = 0.0) -> Ticket | None:
        return self.reindexer.request(tenant, delay) if self.reindexer is not None else None

    @staticmethod
    def _ticket_info(ticket: Ticket | None) -> dict[str, Any]:
        return (
            {"mode": "external"} if ticket is None else {"mode": "in_process", **ticket.to_dict()}
        )

    def _reindex_outcome(self, ticket: Ticket | None, wait: bool, started: float) -> dict[str, Any]:
        if ticket is not None and wait:
            ticket.wait(WAIT_SECONDS)
            return {
                "reindex": self._ticket_info(ticket),
                "searchable": ticket.done.is_set() and ticket.error is None,
                "seconds": round(time.monotonic() - started, 3),
            }
        return {"reindex": self._ticket_info(ticket), "searchable": False}
