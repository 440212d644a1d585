"""The write side's append-only event log, the status state machine, and the fold.

Writes through the API never edit a snapshot or a playbook's ``metadata.json``: each one
appends one immutable JSON object under the tenant's source root::

    tenants/<tenant>/events/<yyyy>/<mm>/<dd>/<yyyymmddThhmmssffffffZ>-<uuid>.json

    {"type": "published" | "status" | "stats" | "deleted",
     "tenant_id": "acme", "playbook_id": "...", "version": "1.2.0",
     "actor": "<token sub>", "at": <unix seconds, float>, "reason": "..." | null,
     "payload": {...}}

payloads: ``published`` {status, storage_strategy}; ``status`` {status, previous};
``stats`` {success: bool, duration_ms?, error?}; ``deleted`` {}.

The indexer folds a tenant's events into each version's metadata at index time
(:func:`apply_events`): the last ``status`` wins (``approved`` also sets storage_strategy
``uploaded_trusted``), ``stats`` add to execution_count / success_count and, after
:data:`BROKEN_AFTER_FAILURES` consecutive failures, mark the version ``broken`` (a status
change resets that count), and ``deleted`` leaves the version out (a later ``published``
brings it back). The server folds the same way to answer "what is this version's state
now" (:func:`fold_version`), so both sides agree by construction.

:data:`TRANSITIONS` is the state machine (spec: State Transition Diagram), chosen as::

    draft          -> ready
    ready          -> active, pending_review
    pending_review -> approved, rejected
    approved       -> active, deprecated, needs_update, broken, archived
    active         -> deprecated, needs_update, broken, archived
    needs_update   -> active, deprecated, broken, archived
    broken         -> active (after a fix), archived
    deprecated     -> active (re-activate an older version), archived
    rejected       -> archived
    archived       -> (none: terminal)
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from indexer.blobs import BlobInfo, Blobs
from indexer.errors import StoreError
from indexer.model import STATUSES

EVENT_TYPES: Final = ("published", "status", "stats", "deleted")
BROKEN_AFTER_FAILURES: Final = 3
SYSTEM_ACTOR: Final = "system"

TRANSITIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "draft": ("ready",),
    "ready": ("active", "pending_review"),
    "pending_review": ("approved", "rejected"),
    "approved": ("active", "deprecated", "needs_update", "broken", "archived"),
    "active": ("deprecated", "needs_update", "broken", "archived"),
    "needs_update": ("active", "deprecated", "broken", "archived"),
    "broken": ("active", "archived"),
    "deprecated": ("active", "archived"),
    "rejected": ("archived",),
    "archived": (),
}
assert set(TRANSITIONS) == set(STATUSES)
# Moving out of review is the reviewer's call, not the publisher's.
REVIEW_TRANSITIONS: Final = frozenset(
    {("pending_review", "approved"), ("pending_review", "rejected")}
)
REASON_REQUIRED: Final = frozenset({"rejected"})


def allowed_targets(status: str) -> tuple[str, ...]:
    return TRANSITIONS.get(status, ())


def events_prefix(tenant: str) -> str:
    return f"tenants/{tenant}/events"


@dataclass(frozen=True)
class Event:
    type: str
    tenant_id: str
    playbook_id: str
    version: str
    actor: str
    at: float
    reason: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""  # where it is stored (set when written or read)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "tenant_id": self.tenant_id,
            "playbook_id": self.playbook_id,
            "version": self.version,
            "actor": self.actor,
            "at": self.at,
            "reason": self.reason,
            "payload": dict(self.payload),
        }

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, key: str) -> Event:
        """Raises :class:`StoreError` naming ``key`` when the object is not an event."""
        try:
            d = json.loads(data)
            if d["type"] not in EVENT_TYPES or not isinstance(d.get("payload", {}), dict):
                raise ValueError(f"unknown event type {d['type']!r}")
            return cls(
                str(d["type"]),
                str(d["tenant_id"]),
                str(d["playbook_id"]),
                str(d["version"]),
                str(d["actor"]),
                float(d["at"]),
                d.get("reason"),
                dict(d.get("payload") or {}),
                key,
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"event {key} is malformed: {exc}", key=key) from None

    @property
    def target(self) -> tuple[str, str]:
        return self.playbook_id, self.version

    def sort_key(self) -> tuple[float, str]:
        return self.at, self.key


def event_key(event: Event, unique: str | None = None) -> str:
    ts = datetime.fromtimestamp(event.at, UTC)
    stamp = ts.strftime("%Y%m%dT%H%M%S%fZ")
    return (
        f"{events_prefix(event.tenant_id)}/{ts:%Y/%m/%d}/{stamp}-{unique or uuid.uuid4().hex}.json"
    )


class EventLog:
    """A tenant source root's events: append (create-only) and read (cached by key).

    Event objects are immutable, so a read is cached forever by key; each :meth:`events`
    call lists the prefix and reads only keys it has not seen. Thread-safe.
    """

    def __init__(self, blobs: Blobs) -> None:
        self.blobs = blobs
        self._cache: dict[str, Event] = {}
        self._lock = threading.Lock()

    def append(self, event: Event) -> Event:
        """Writes ``event`` as a new object (never overwrites); returns it with its key."""
        key = event_key(event)
        stored = Event(
            event.type,
            event.tenant_id,
            event.playbook_id,
            event.version,
            event.actor,
            event.at,
            event.reason,
            dict(event.payload),
            key,
        )
        self.blobs.write_if(key, stored.to_json(), None)
        with self._lock:
            self._cache[key] = stored
        return stored

    def events(self, tenant: str, infos: Iterable[BlobInfo] | None = None) -> list[Event]:
        """Every event of ``tenant`` in order (time, then key); malformed objects skipped."""
        listing = list(infos) if infos is not None else list(self.blobs.list(events_prefix(tenant)))
        keys = [i.key for i in listing if i.key.endswith(".json")]
        with self._lock:
            missing = [k for k in keys if k not in self._cache]
        if missing:
            with ThreadPoolExecutor(max_workers=16) as pool:
                loaded = list(pool.map(self._read, missing))
            with self._lock:
                for key, ev in zip(missing, loaded, strict=True):
                    if ev is not None:
                        self._cache[key] = ev
        with self._lock:
            out = [self._cache[k] for k in keys if k in self._cache]
        return sorted((e for e in out if e.tenant_id == tenant), key=Event.sort_key)

    def _read(self, key: str) -> Event | None:
        try:
            return Event.from_json(self.blobs.read(key), key)
        except StoreError:
            return None  # one bad object must not hide a tenant's other events


def events_fingerprint(infos: Iterable[BlobInfo]) -> str:
    """Part of a collection's source fingerprint: changes when an event is added."""
    import hashlib

    h = hashlib.sha256()
    for info in sorted(infos, key=lambda i: i.key):
        h.update(f"{info.key}\0{info.size}\0{info.tag}\n".encode())
    return h.hexdigest()


@dataclass
class VersionState:
    """One version's lifecycle after folding its events over its ``metadata.json``."""

    status: str
    storage_strategy: str
    execution_count: int = 0
    success_count: int = 0
    consecutive_failures: int = 0
    last_executed_at: float | None = None
    updated_at: float | None = None
    deleted: bool = False
    published: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def success_rate(self) -> float | None:
        return self.success_count / self.execution_count if self.execution_count else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "storage_strategy": self.storage_strategy,
            "execution_count": self.execution_count,
            "success_count": self.success_count,
            "success_rate": self.success_rate,
            "consecutive_failures": self.consecutive_failures,
            "last_executed_at": self.last_executed_at,
            "updated_at": self.updated_at,
            "deleted": self.deleted,
            "published": self.published,
        }


def fold_version(metadata: Mapping[str, Any], events: Sequence[Event]) -> VersionState:
    """The state of one version: its metadata, then its ``events`` in order."""
    state = VersionState(
        status=str(metadata.get("status", "draft")),
        storage_strategy=str(metadata.get("storage_strategy", "")),
        execution_count=int(metadata.get("execution_count") or 0),
        success_count=int(metadata.get("success_count") or 0),
        updated_at=metadata.get("updated_at"),
        last_executed_at=metadata.get("last_executed_at"),
    )
    for ev in sorted(events, key=Event.sort_key):
        entry = {
            "type": ev.type,
            "actor": ev.actor,
            "at": ev.at,
            "reason": ev.reason,
            "payload": dict(ev.payload),
        }
        if ev.type == "published":
            state.deleted, state.published = False, True
            state.status = str(ev.payload.get("status", state.status))
            state.storage_strategy = str(ev.payload.get("storage_strategy", state.storage_strategy))
            state.consecutive_failures = 0
            state.updated_at = ev.at
        elif ev.type == "status":
            _set_status(state, str(ev.payload.get("status", state.status)), ev.at)
        elif ev.type == "stats":
            ok = bool(ev.payload.get("success"))
            state.execution_count += 1
            state.success_count += int(ok)
            state.consecutive_failures = 0 if ok else state.consecutive_failures + 1
            state.last_executed_at = ev.at
            if state.consecutive_failures >= BROKEN_AFTER_FAILURES and "broken" in allowed_targets(
                state.status
            ):
                state.history.append(entry)
                entry = {
                    "type": "status",
                    "actor": SYSTEM_ACTOR,
                    "at": ev.at,
                    "reason": f"failed {BROKEN_AFTER_FAILURES} consecutive executions",
                    "payload": {"status": "broken", "previous": state.status},
                }
                _set_status(state, "broken", ev.at, keep_failures=True)
        elif ev.type == "deleted":
            state.deleted = True
        state.history.append(entry)
    return state


def _set_status(
    state: VersionState, status: str, at: float, *, keep_failures: bool = False
) -> None:
    state.status = status
    if status == "approved":
        state.storage_strategy = "uploaded_trusted"
    if not keep_failures:  # a deliberate change (a fix, a review) starts a new count
        state.consecutive_failures = 0
    state.updated_at = at


def group_events(events: Iterable[Event]) -> dict[tuple[str, str], list[Event]]:
    out: dict[tuple[str, str], list[Event]] = {}
    for ev in events:
        out.setdefault(ev.target, []).append(ev)
    return out


def apply_events(metadata: Mapping[str, Any], events: Sequence[Event]) -> dict[str, Any] | None:
    """``metadata`` (validated, normalised) with ``events`` folded in; None when deleted."""
    if not events:
        return dict(metadata)
    state = fold_version(metadata, events)
    if state.deleted:
        return None
    out = dict(metadata)
    out["status"] = state.status
    out["storage_strategy"] = state.storage_strategy
    out["execution_count"] = state.execution_count
    out["success_count"] = min(state.success_count, state.execution_count)
    if any(e.type == "stats" for e in events):
        out["success_rate"] = state.success_rate
    if state.last_executed_at is not None:
        out["last_executed_at"] = int(state.last_executed_at)
    if state.updated_at is not None:
        out["updated_at"] = int(state.updated_at)
    return out
