"""Hot swap: the server follows CURRENT, keeps serving through bad manifests, never half-swaps."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.errors import StoreError
from indexer.store import Store
from serve.app import create_app
from serve.poller import InFlight, ManifestPoller
from tests.serve._helpers import make_settings, search
from tests.serve._manifests import (
    commit_bad_checksum,
    commit_manifest,
    commit_missing_snapshot,
    commit_other_model,
)
from tests.serve._tiny_store import LIBRARY, TENANTS, TinyStore, commit, open_store

WAIT_SECONDS = 30  # a bound on waiting for the background poller, not a speed test


@pytest.fixture
def store_dir(tiny_store: TinyStore, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(tiny_store.root, target, ignore=shutil.ignore_patterns("logs"))
    return target


@pytest.fixture
def served(store_dir: Path, embedder: Embedder) -> Iterator[TestClient]:
    """An app over a private copy of the tiny store; its poller only ticks when told to."""
    settings = make_settings(store_dir, poll_seconds=3600, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        yield c


def tick(client: TestClient) -> None:
    poller: ManifestPoller = client.app.state.poller  # type: ignore[attr-defined]
    client.portal.call(poller.tick)  # type: ignore[union-attr]


def metric(client: TestClient, line_start: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def republish(store: Store, tool: str, source: str | None = None) -> str:
    """A new manifest over ``source``'s (default CURRENT's) snapshots: a new id, same content."""
    live = store.read_manifest(source or store.current().manifest_id or "")
    return commit_manifest(store, live.collections, live.model, tool=tool)


def test_a_new_manifest_is_swapped_in_without_a_restart(
    served: TestClient, store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    assert served.get("/readyz").json()["manifest_id"] == tiny_store.manifest_id
    renamed = (LIBRARY[0].__class__(**{**LIBRARY[0].__dict__, "name": "Stop RDS v2"}),)
    new_id = commit(open_store(store_dir), embedder, renamed + LIBRARY[1:], TENANTS)
    tick(served)
    ready = served.get("/readyz").json()
    assert ready["manifest_id"] == new_id
    assert "failed_manifest_id" not in ready
    body = search(served, "alpha", {"query": "stop an RDS database instance", "limit": 3})
    assert body["manifest_id"] == new_id
    assert "Stop RDS v2" in [r["metadata"]["name"] for r in body["results"]]
    assert metric(served, "playbooks_generation_swaps_total") == 1
    assert metric(served, f'playbooks_manifest_info{{manifest_id="{new_id}"}}') == 1


def test_an_unchanged_current_is_not_reloaded(served: TestClient) -> None:
    before = served.app.state.generation  # type: ignore[attr-defined]
    tick(served)
    tick(served)
    assert served.app.state.generation is before  # type: ignore[attr-defined]
    assert metric(served, "playbooks_generation_swaps_total") == 0


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [
        (commit_bad_checksum, "checksum_mismatch"),
        (commit_missing_snapshot, "store_error"),
        (commit_other_model, "store_error"),
    ],
)
def test_a_manifest_that_fails_to_load_leaves_the_old_one_serving(
    served: TestClient, store_dir: Path, tiny_store: TinyStore, corrupt: Any, reason: str
) -> None:
    store = open_store(store_dir)
    bad_id = corrupt(store)
    tick(served)
    ready = served.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["manifest_id"] == tiny_store.manifest_id
    assert body["failed_manifest_id"] == bad_id
    assert body["last_load_error"]["manifest_id"] == bad_id
    assert body["last_load_error"]["error"]["code"] == reason
    assert search(served, "alpha", {"query": "stop rds"})["manifest_id"] == tiny_store.manifest_id
    failures = f'playbooks_generation_load_failures_total{{reason="{reason}"}}'
    assert metric(served, failures) == 1
    tick(served)  # CURRENT did not move: the failed manifest is not retried every tick
    assert metric(served, failures) == 1
    good_id = republish(store, "fixed", source=tiny_store.manifest_id)
    tick(served)
    body = served.get("/readyz").json()
    assert body["manifest_id"] == good_id
    assert "failed_manifest_id" not in body and "last_load_error" not in body


def test_a_failed_manifest_is_retried_after_the_backoff(
    store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    store = open_store(store_dir)
    ref_path = (
        store_dir / store.read_manifest(tiny_store.manifest_id).collections["escher_library"].path
    )
    bad_id = commit_missing_snapshot(store)
    settings = make_settings(
        store_dir, poll_seconds=3600, reload_retry_seconds=0.01, querylog="false"
    )
    with TestClient(create_app(settings, embedder=embedder)) as c:
        assert c.get("/readyz").status_code == 503  # nothing loaded: CURRENT is bad
        # The operator restores the missing folder; CURRENT is unchanged.
        live = store.read_manifest(bad_id).collections["escher_library"]
        shutil.copytree(ref_path, store_dir / live.path)
        time.sleep(0.02)
        tick(c)
        assert c.get("/readyz").json()["manifest_id"] == bad_id


def test_store_errors_while_polling_are_survived(
    served: TestClient, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store: Store = served.app.state.store  # type: ignore[attr-defined]
    real = store.current_tag

    def flaky() -> str | None:
        raise StoreError("S3 error on manifests/CURRENT: SlowDown")

    monkeypatch.setattr(store, "current_tag", flaky)
    tick(served)
    tick(served)
    assert served.get("/readyz").status_code == 200
    monkeypatch.setattr(store, "current_tag", real)
    new_id = republish(open_store(store_dir), "after-outage")
    tick(served)
    assert served.get("/readyz").json()["manifest_id"] == new_id


def test_the_background_poller_picks_up_current(store_dir: Path, embedder: Embedder) -> None:
    settings = make_settings(store_dir, poll_seconds=0.05, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as c:
        new_id = republish(open_store(store_dir), "background")
        deadline = time.monotonic() + WAIT_SECONDS
        while c.get("/readyz").json()["manifest_id"] != new_id:
            assert time.monotonic() < deadline, "the poller never swapped"
            time.sleep(0.05)


def test_a_pinned_manifest_is_never_replaced(
    store_dir: Path, embedder: Embedder, tiny_store: TinyStore
) -> None:
    settings = make_settings(store_dir, poll_seconds=0.05, manifest=tiny_store.first_manifest)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        assert c.app.state.poller is None  # type: ignore[attr-defined]
        republish(open_store(store_dir), "ignored")
        time.sleep(0.2)
        assert c.get("/readyz").json()["manifest_id"] == tiny_store.first_manifest


class FakeGeneration:
    manifest_id = "m-fake"

    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


class FakeApp:
    def __init__(self, generation: FakeGeneration | None) -> None:
        self.state = type("State", (), {"generation": generation})()


def test_a_retired_generation_closes_only_after_its_last_request() -> None:
    old = FakeGeneration()
    app = FakeApp(old)
    in_flight = InFlight()
    with in_flight.use(app) as first:  # type: ignore[arg-type]
        with in_flight.use(app) as second:  # type: ignore[arg-type]
            assert first is second is old
            app.state.generation = FakeGeneration()  # the swap
            in_flight.retire(old)  # type: ignore[arg-type]
            assert old.closed == 0
        assert old.closed == 0  # one request still holds it
    assert old.closed == 1
    assert in_flight.held() == 0


def test_a_retired_generation_nobody_holds_is_closed_at_once() -> None:
    old = FakeGeneration()
    in_flight = InFlight()
    in_flight.retire(old)  # type: ignore[arg-type]
    assert old.closed == 1
