"""The event log, the status state machine and the fold (indexer side)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.blobs import open_blobs
from indexer.build import run_index
from indexer.crawl import CrawlResult, crawl_tenants
from indexer.embed import Embedder
from indexer.events import (
    TRANSITIONS,
    Event,
    EventLog,
    allowed_targets,
    apply_events,
    fold_version,
)
from indexer.model import STATUSES
from indexer.store import Store
from tests._playbooks import write_playbook

META = {
    "status": "active",
    "storage_strategy": "uploaded_for_review",
    "execution_count": 4,
    "success_count": 3,
    "playbook_id": "p",
    "version": "1.0.0",
}


def ev(kind: str, at: float, **payload: object) -> Event:
    return Event(kind, "acme", "p", "1.0.0", "tester", at, None, payload, key=f"k{at}")


def test_every_status_has_a_row_and_archived_is_terminal() -> None:
    assert set(TRANSITIONS) == set(STATUSES)
    assert allowed_targets("archived") == ()
    assert set(allowed_targets("pending_review")) == {"approved", "rejected"}
    for targets in TRANSITIONS.values():
        assert set(targets) <= set(STATUSES)


def test_last_status_wins_and_approval_trusts_the_playbook() -> None:
    state = fold_version(
        {**META, "status": "pending_review"},
        [ev("status", 2, status="approved"), ev("status", 1, status="x")],
    )
    assert state.status == "approved" and state.storage_strategy == "uploaded_trusted"


def test_three_consecutive_failures_break_an_active_version() -> None:
    events = [
        ev("stats", 1, success=False),
        ev("stats", 2, success=False),
        ev("stats", 3, success=True),
        ev("stats", 4, success=False),
        ev("stats", 5, success=False),
    ]
    state = fold_version(META, events)
    assert (state.status, state.consecutive_failures) == ("active", 2)
    assert (state.execution_count, state.success_count) == (9, 4)
    state = fold_version(META, [*events, ev("stats", 6, success=False)])
    assert state.status == "broken" and state.consecutive_failures == 3
    assert state.history[-1]["actor"] == "system"
    assert "3 consecutive" in state.history[-1]["reason"]
    # A fix (broken -> active) starts a new count.
    fixed = fold_version(
        META,
        [
            *events,
            ev("stats", 6, success=False),
            ev("status", 7, status="active"),
            ev("stats", 8, success=False),
        ],
    )
    assert (fixed.status, fixed.consecutive_failures) == ("active", 1)


def test_failures_do_not_break_a_status_the_diagram_cannot_leave_for_broken() -> None:
    fails = [ev("stats", i, success=False) for i in range(5)]
    assert fold_version({**META, "status": "pending_review"}, fails).status == "pending_review"


def test_apply_events_counts_runs_and_leaves_deleted_versions_out() -> None:
    out = apply_events(META, [ev("stats", 10, success=True), ev("stats", 11, success=False)])
    assert out is not None
    assert (out["execution_count"], out["success_count"]) == (6, 4)
    assert out["success_rate"] == pytest.approx(4 / 6) and out["last_executed_at"] == 11
    assert apply_events(META, [ev("deleted", 1)]) is None
    back = apply_events(META, [ev("deleted", 1), ev("published", 2, status="pending_review")])
    assert back is not None and back["status"] == "pending_review"
    assert apply_events(META, []) == META


def test_the_log_is_create_only_ordered_and_skips_malformed_objects(tmp_path: Path) -> None:
    blobs = open_blobs(str(tmp_path))
    log = EventLog(blobs)
    second = log.append(ev("status", 200.0, status="deprecated"))
    first = log.append(ev("stats", 100.0, success=True))
    assert second.key.startswith("tenants/acme/events/1970/01/01/")
    blobs.write("tenants/acme/events/1970/01/01/zzz-bad.json", b"{not json")
    fresh = EventLog(blobs).events("acme")
    assert [e.key for e in fresh] == [first.key, second.key]
    assert json.loads(blobs.read(first.key))["actor"] == "tester"


def test_crawl_lists_events_beside_playbooks_not_as_playbooks(tmp_path: Path) -> None:
    write_playbook(tmp_path, "p", tenant="acme")
    EventLog(open_blobs(str(tmp_path))).append(ev("stats", 1.0, success=True))
    result = CrawlResult()
    crawl_tenants(open_blobs(str(tmp_path)), result)
    assert [f.playbook_id for f in result.folders["tenant_acme_playbooks"]] == ["p"]
    assert not result.rejections
    [(_blobs, infos)] = result.events["tenant_acme_playbooks"]
    assert len(infos) == 1 and infos[0].key.startswith("tenants/acme/events/")


def test_an_event_rebuilds_only_its_tenant_and_reuses_vectors(
    tmp_path: Path, embedder: Embedder
) -> None:
    tenants = tmp_path / "tenants"
    for tenant in ("acme", "globex"):
        write_playbook(tenants, "p", tenant=tenant, status="active")
    store = Store(open_blobs(str(tmp_path / "store")))
    sources = [open_blobs(str(tenants))]

    def run() -> dict[str, dict[str, object]]:
        report = run_index(store=store, library=[], tenants=sources, embedder=embedder)
        assert report.committed
        return {k: v.to_dict() for k, v in report.collections.items()}

    run()
    assert run()["tenant_acme_playbooks"]["action"] == "carried"  # no events: stable
    log = EventLog(sources[0])
    log.append(Event("status", "acme", "p", "1.0.0", "u", 1.0, None, {"status": "needs_update"}))
    outcome = run()
    acme, globex = outcome["tenant_acme_playbooks"], outcome["tenant_globex_playbooks"]
    assert acme["action"] == "built" and acme["embedded"] == 0 and acme["reused"] == 1
    assert globex["action"] == "carried"
    manifest = store.read_manifest(store.current().manifest_id or "")
    table = store.load_snapshot(manifest.collections["tenant_acme_playbooks"]).table
    assert table.column("status").to_pylist() == ["needs_update"]
    assert run()["tenant_acme_playbooks"]["action"] == "carried"

    log.append(Event("deleted", "acme", "p", "1.0.0", "u", 2.0, None, {}))
    outcome = run()
    assert outcome["tenant_acme_playbooks"]["indexed"] == 0
    assert outcome["tenant_acme_playbooks"]["deleted"] == 1
