"""The in-process incremental reindex: one worker, one lock, per-tenant coalescing.

After a write (:mod:`serve.write_api`) the server asks :class:`Reindexer` to reindex the
writer's tenant. Requests are queued per tenant with a due time; the worker thread wakes
at the earliest one and runs :func:`indexer.build.run_index` for every tenant due (only
those tenants' collections: ``include_library=False, only_tenants=[...]``) behind one lock,
so runs never overlap in this process (other processes are handled by the store's
compare-and-swap on CURRENT). A committed run is loaded and swapped in at once
(``on_commit``) instead of waiting for the CURRENT poller.

- ``request(tenant)`` is due now (publish, status, delete);
- ``request(tenant, delay=debounce)`` (execution stats) is due ``delay`` seconds later
  unless the tenant is already queued: a burst of stats events becomes one reindex.

Each request returns a :class:`Ticket` that is settled when a run that includes it ends,
so a caller may wait for "searchable" (``POST .../publish`` with ``"wait": true``).
A failed run is logged and retried once after :data:`RETRY_SECONDS`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from indexer.build import RunReport

log = logging.getLogger("serve.reindex")
RETRY_SECONDS: Final = 5.0

RunFn = Callable[[Sequence[str] | None, bool], RunReport]


@dataclass
class Ticket:
    tenant: str
    requested_at: float = field(default_factory=time.monotonic)
    done: threading.Event = field(default_factory=threading.Event)
    report: RunReport | None = None
    error: str | None = None
    attempts: int = 0

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tenant": self.tenant, "done": self.done.is_set()}
        if self.report is not None:
            out.update(
                manifest_id=self.report.manifest_id,
                unchanged=self.report.unchanged,
                index_seconds=round(self.report.seconds, 3),
            )
        if self.error is not None:
            out["error"] = self.error
        return out


class Reindexer:
    def __init__(self, run: RunFn, on_commit: Callable[[str], None] | None = None) -> None:
        self._run = run
        self._on_commit = on_commit
        self.lock = threading.Lock()  # one index run at a time in this process
        self._cond = threading.Condition()
        self._pending: dict[str, tuple[float, list[Ticket]]] = {}
        self._running = False
        self._closed = False
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.requests = 0
        self.coalesced = 0
        self.last_error: str | None = None

    def request(self, tenant: str, delay: float = 0.0) -> Ticket:
        ticket = Ticket(tenant)
        with self._cond:
            self.requests += 1
            due = time.monotonic() + delay
            if tenant in self._pending:
                self.coalesced += 1
                old_due, tickets = self._pending[tenant]
                self._pending[tenant] = (min(old_due, due), [*tickets, ticket])
            else:
                self._pending[tenant] = (due, [ticket])
            self._ensure_worker()
            self._cond.notify_all()
        return ticket

    def run_now(self, tenants: Sequence[str] | None, include_library: bool) -> RunReport:
        """A synchronous run (admin reindex), behind the same lock as the queued ones."""
        with self.lock:
            report = self._run(tenants, include_library)
            self.runs += 1
            self._committed(report)
        return report

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """True once nothing is queued or running (tests; shutdown)."""
        end = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._running:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def close(self, timeout: float = 30.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def status(self) -> dict[str, Any]:
        with self._cond:
            return {
                "queued": sorted(self._pending),
                "running": self._running,
                "runs": self.runs,
                "requests": self.requests,
                "coalesced": self.coalesced,
                "last_error": self.last_error,
            }

    def _ensure_worker(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._work, name="reindex", daemon=True)
            self._thread.start()

    def _take_due(self) -> dict[str, list[Ticket]] | None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                due = {t: tk for t, (d, tk) in self._pending.items() if d <= now}
                if due:
                    for tenant in due:
                        del self._pending[tenant]
                    self._running = True
                    return due
                wait = min((d for d, _ in self._pending.values()), default=now + 3600) - now
                self._cond.wait(max(0.001, wait))
            return None

    def _work(self) -> None:
        while (batch := self._take_due()) is not None:
            tickets = [t for ts in batch.values() for t in ts]
            report: RunReport | None = None
            error: str | None = None
            try:
                with self.lock:
                    report = self._run(sorted(batch), False)
                    self.runs += 1
                    # Swap in under the lock too, so generations go live in commit order.
                    self._committed(report)
            except Exception as exc:  # keep serving; the next write or the retry runs again
                error = f"{type(exc).__name__}: {exc}"
                log.exception("reindex of %s failed", ", ".join(sorted(batch)))
            with self._cond:
                self._running = False
                self.last_error = error
                for ticket in tickets:
                    ticket.attempts += 1
                    if error is not None and ticket.attempts < 2 and not self._closed:
                        due, queued = self._pending.get(
                            ticket.tenant, (time.monotonic() + RETRY_SECONDS, [])
                        )
                        self._pending[ticket.tenant] = (due, [*queued, ticket])
                        continue
                    ticket.report, ticket.error = report, error
                    ticket.done.set()
                self._cond.notify_all()

    def _committed(self, report: RunReport) -> None:
        if report.committed and not report.unchanged and report.manifest_id and self._on_commit:
            self._on_commit(report.manifest_id)
