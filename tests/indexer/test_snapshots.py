"""Operating the store: list, show, diff, rollback, pin and gc (local folder and moto S3).

Stores are built by hand here (tiny snapshots, random unit vectors): the embedding model
is not the subject, the manifests and what they name are.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from indexer import cli_snapshots
from indexer.blobs import Blobs, LocalBlobs, S3Blobs
from indexer.errors import BadRequest, ChecksumMismatch, CommitConflict, NotFound, StoreError
from indexer.rows import rows_table
from indexer.snapshots import (
    diff,
    gc,
    list_manifests,
    pin,
    resolve,
    rollback,
    show,
    unpin,
)
from indexer.store import Manifest, ModelIdentity, SnapshotRef, Store, playbook_schema
from indexer.vectors import index_bytes

DIM = 8
MODEL = ModelIdentity("test/random-unit", "0" * 64, DIM)
T0 = datetime(2025, 1, 1, tzinfo=UTC)
LIB, ACME, GLOBEX = "escher_library", "tenant_acme_playbooks", "tenant_globex_playbooks"


# ----- building stores by hand ------------------------------------------------------------
def row(pid: str, version: str = "1.0.0", **fields: Any) -> dict[str, Any]:
    """One snapshot row; ``text`` sets the embedded text (and so the content hash)."""
    text = fields.pop("text", f"{pid} {version}")
    r: dict[str, Any] = {f.name: None for f in playbook_schema(DIM) if f.name != "vector"}
    for name in (
        "use_cases",
        "keywords",
        "prerequisites",
        "parameter_names",
        "step_names",
        "scripts",
        "tags",
    ):
        r[name] = []
    r.update(
        playbook_id=pid,
        version=version,
        name=pid,
        description=text,
        status="active",
        cloud_provider=["aws"],
        resource_types=["ec2::instance"],
        author="escher_library",
        storage_strategy="using_default",
        execution_count=0,
        success_count=0,
        embed_text=text,
        content_hash=hashlib.sha256(text.encode()).hexdigest(),
    )
    r.update(fields)
    return r


def snapshot(
    store: Store, collection: str, rows: list[dict[str, Any]], at: datetime = T0
) -> SnapshotRef:
    rng = np.random.default_rng(len(rows))
    vectors = rng.normal(size=(len(rows), DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-9
    for r in rows:
        r["collection"] = collection
    table = rows_table(rows, vectors, DIM)
    fp = hashlib.sha256(json.dumps([r["content_hash"] for r in rows]).encode()).hexdigest()
    return store.write_snapshot(
        collection, table, index_bytes(vectors, DIM), {"model": MODEL.to_dict()}, fp, now=at
    )


def commit(store: Store, collections: dict[str, SnapshotRef], at: datetime = T0) -> Manifest:
    pointer = store.current()
    m = Manifest.create(
        parent=pointer.manifest_id,
        created_by={"tool": "test"},
        model=MODEL,
        collections=collections,
        now=at,
    )
    store.write_manifest(m)
    store.swap_current(m.manifest_id, pointer)
    return m


def live(store: Store) -> Manifest:
    """The manifest CURRENT names."""
    mid = store.current().manifest_id
    assert mid is not None
    return store.read_manifest(mid)


def assert_loads(store: Store, manifest_id: str) -> None:
    """The manifest and every snapshot it names read back and verify."""
    for ref in store.read_manifest(manifest_id).collections.values():
        store.load_snapshot(ref)


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    blobs: Blobs
    if request.param == "local":
        blobs = LocalBlobs(tmp_path / "store")
    else:
        request.getfixturevalue("make_bucket")("index-store")
        blobs = S3Blobs("index-store", "store", request.getfixturevalue("s3"))
    return Store(blobs)


@pytest.fixture
def history(store: Store) -> list[Manifest]:
    """Three committed manifests: m0 (lib + acme), m1 (lib changed, globex added), m2
    (acme changed, globex removed)."""
    lib0 = snapshot(store, LIB, [row("rds-stop"), row("vm-start"), row("old-one")])
    acme0 = snapshot(store, ACME, [row("weekend", author="user_custom")])
    m0 = commit(store, {LIB: lib0, ACME: acme0}, T0)
    lib1 = snapshot(
        store,
        LIB,
        [
            row("rds-stop", text="rds-stop, now with a snapshot first"),  # content changed
            row("vm-start", status="deprecated", execution_count=9),  # status + counts
            row("vm-start", "2.0.0"),  # added
        ],
        T0 + timedelta(days=1),
    )  # old-one removed
    globex1 = snapshot(store, GLOBEX, [row("ledger")], T0 + timedelta(days=1))
    m1 = commit(store, {LIB: lib1, ACME: acme0, GLOBEX: globex1}, T0 + timedelta(days=1))
    acme2 = snapshot(
        store, ACME, [row("weekend", author="user_custom"), row("nightly")], T0 + timedelta(days=2)
    )
    m2 = commit(store, {LIB: lib1, ACME: acme2}, T0 + timedelta(days=2))
    return [m0, m1, m2]


# ----- list / show / resolve --------------------------------------------------------------
def test_list_is_newest_first_with_counts_and_flags(store: Store, history: list[Manifest]) -> None:
    pin(store, history[0].manifest_id)
    items = list_manifests(store)
    assert [s.manifest_id for s in items] == [m.manifest_id for m in reversed(history)]
    newest = items[0]
    assert (newest.is_current, newest.parent, newest.collections, newest.rows) == (
        True,
        history[1].manifest_id,
        2,
        5,
    )
    assert [s.pinned for s in items] == [False, False, True]
    assert [s.is_current for s in items] == [True, False, False]
    assert [s.manifest_id for s in list_manifests(store, limit=1)] == [history[2].manifest_id]


def test_refs_resolve_current_history_and_unique_prefixes(
    store: Store, history: list[Manifest]
) -> None:
    ids = [m.manifest_id for m in history]
    assert resolve(store, "CURRENT") == ids[2]
    assert resolve(store, "CURRENT~2") == ids[0]
    assert resolve(store, ids[1][:-3]) == ids[1]
    with pytest.raises(BadRequest, match="matches 3 manifests"):
        resolve(store, "m-2025")
    with pytest.raises(NotFound, match="history is only 3"):
        resolve(store, "CURRENT~3")
    with pytest.raises(NotFound, match="no manifest 'nope'"):
        show(store, "nope")


def test_show_verify_names_a_snapshot_whose_bytes_changed(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    ref = snapshot(store, LIB, [row("a")])
    commit(store, {LIB: ref, ACME: snapshot(store, ACME, [row("b")])})
    assert show(store, "CURRENT", verify=True).verified == {LIB: "ok", ACME: "ok"}
    parquet = tmp_path / "store" / ref.path / "metadata.parquet"
    parquet.write_bytes(parquet.read_bytes()[:-1] + b"\x00")
    detail = show(store, "CURRENT", verify=True)
    assert detail.is_current and detail.verified is not None
    assert detail.verified[ACME] == "ok"
    assert "metadata.parquet: sha256" in detail.verified[LIB]


# ----- diff -------------------------------------------------------------------------------
def test_diff_reports_versions_added_removed_changed_and_status_changes(
    store: Store, history: list[Manifest]
) -> None:
    d = diff(store, history[0].manifest_id, history[1].manifest_id)
    assert d.unchanged == [ACME]
    by = {c.collection: c for c in d.collections}
    assert by[GLOBEX].change == "added" and by[GLOBEX].new_rows == 1
    lib = by[LIB]
    assert lib.change == "changed" and (lib.old_rows, lib.new_rows) == (3, 3)
    assert lib.added == [("vm-start", "2.0.0")]
    assert lib.removed == [("old-one", "1.0.0")]
    changed = {(c.playbook_id, c.version): c.fields for c in lib.changed}
    assert "content_hash" in changed[("rds-stop", "1.0.0")]
    assert changed[("vm-start", "1.0.0")] == ("execution_count",)
    [status] = lib.status_changes
    assert (status.playbook_id, status.version, status.old, status.new) == (
        "vm-start",
        "1.0.0",
        "active",
        "deprecated",
    )


def test_diff_of_one_manifest_is_against_its_parent(store: Store, history: list[Manifest]) -> None:
    d = diff(store, "CURRENT")
    assert (d.old, d.new) == (history[1].manifest_id, history[2].manifest_id)
    by = {c.collection: c for c in d.collections}
    assert by[GLOBEX].change == "removed"
    assert by[ACME].added == [("nightly", "1.0.0")]
    assert d.unchanged == [LIB]


# ----- rollback ---------------------------------------------------------------------------
def test_rollback_whole_store_commits_a_new_manifest_equal_to_the_target(
    store: Store, history: list[Manifest]
) -> None:
    m0, _, m2 = history
    result = rollback(store, m0.manifest_id)
    assert result.committed and result.manifest_id not in {m.manifest_id for m in history}
    now = live(store)
    assert now.manifest_id == result.manifest_id and now.parent == m2.manifest_id
    assert dict(now.collections) == dict(m0.collections)
    assert now.report["rollback"]["to"] == m0.manifest_id
    assert set(result.changed) == {LIB, ACME}
    assert resolve(store, "CURRENT~1") == m2.manifest_id  # history stays linear
    assert_loads(store, now.manifest_id)


def test_rollback_of_one_collection_leaves_the_others_as_they_were(
    store: Store, history: list[Manifest]
) -> None:
    m0, m1, m2 = history
    result = rollback(store, m1.manifest_id, collection=GLOBEX)
    now = live(store)
    assert result.changed == (GLOBEX,) and now.parent == m2.manifest_id
    assert now.collections[GLOBEX] == m1.collections[GLOBEX]
    assert {n: r.snapshot_id for n, r in now.collections.items() if n != GLOBEX} == {
        n: r.snapshot_id for n, r in m2.collections.items()
    }
    # And back: acme to m0's snapshot; library and globex untouched.
    rollback(store, m0.manifest_id, collection=ACME)
    again = live(store)
    assert again.collections[ACME] == m0.collections[ACME]
    assert again.collections[LIB] == m2.collections[LIB]
    assert again.collections[GLOBEX] == m1.collections[GLOBEX]
    assert_loads(store, again.manifest_id)


def test_rollback_errors_leave_current_where_it_was(store: Store, history: list[Manifest]) -> None:
    before = store.current().manifest_id
    with pytest.raises(NotFound, match="has no collection 'tenant_globex_playbooks'"):
        rollback(store, history[0].manifest_id, collection=GLOBEX)
    with pytest.raises(NotFound):
        rollback(store, "m-1999")
    nothing = rollback(store, "CURRENT~1", collection=LIB)  # same library snapshot
    assert not nothing.committed and nothing.manifest_id is None
    dry = rollback(store, history[0].manifest_id, dry_run=True)
    assert not dry.committed and dry.diff is not None and dry.changed == (LIB, ACME)
    assert store.current().manifest_id == before
    assert store.manifest_ids() == [m.manifest_id for m in history]


def test_rollback_refuses_a_target_snapshot_that_fails_verification(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    old = snapshot(store, LIB, [row("a")])
    m0 = commit(store, {LIB: old})
    m1 = commit(store, {LIB: snapshot(store, LIB, [row("b")], T0 + timedelta(1))})
    index = tmp_path / "store" / old.path / "index.faiss"
    index.write_bytes(index.read_bytes() + b"!")
    with pytest.raises(ChecksumMismatch, match=r"index\.faiss"):
        rollback(store, m0.manifest_id)
    assert store.current().manifest_id == m1.manifest_id
    assert store.manifest_ids() == [m0.manifest_id, m1.manifest_id]


class _Interloper:
    """Commits another manifest the first time the rollback writes its own (a race)."""

    def __init__(self, store: Store, change: str, ref: SnapshotRef) -> None:
        self.store, self.change, self.ref, self.done = store, change, ref, False
        self.real_write = store.write_manifest
        store.write_manifest = self.write  # type: ignore[method-assign]

    def write(self, manifest: Manifest) -> None:
        if not self.done:
            self.done = True
            now = live(self.store).collections
            commit(self.store, {**now, self.change: self.ref}, T0 + timedelta(3))
        self.real_write(manifest)


def test_rollback_rebases_over_a_commit_to_another_collection(
    store: Store, history: list[Manifest]
) -> None:
    new_lib = snapshot(store, LIB, [row("brand-new")], T0 + timedelta(days=3))
    _Interloper(store, LIB, new_lib)
    result = rollback(store, history[0].manifest_id, collection=ACME)
    now = live(store)
    assert result.committed and now.manifest_id == result.manifest_id
    assert now.collections[LIB] == new_lib  # the other writer's work is kept
    assert now.collections[ACME] == history[0].collections[ACME]


def test_rollback_refuses_when_a_racing_commit_changed_what_it_rolls_back(
    store: Store, history: list[Manifest]
) -> None:
    new_acme = snapshot(store, ACME, [row("racer")], T0 + timedelta(days=3))
    racer = _Interloper(store, ACME, new_acme)
    with pytest.raises(CommitConflict, match="changed what it rolls back"):
        rollback(store, history[0].manifest_id, collection=ACME)
    assert racer.done
    assert live(store).collections[ACME] == new_acme


# ----- pins -------------------------------------------------------------------------------
def test_pin_and_unpin(store: Store, history: list[Manifest]) -> None:
    first = history[0].manifest_id
    assert pin(store, first, note="audit").changed
    assert not pin(store, first).changed  # already pinned: unchanged, not an error
    assert store.pinned_ids() == [first]
    assert store.manifest_ids() == [m.manifest_id for m in history]  # a pin is no manifest
    assert (store.read_pin(first) or {})["note"] == "audit"
    assert show(store, first).pin is not None
    assert first not in [s.manifest_id for s in list_manifests(store) if not s.pinned]
    unpin(store, first)
    assert store.pinned_ids() == []
    with pytest.raises(NotFound, match="is not pinned"):
        unpin(store, first)
    with pytest.raises(NotFound):
        pin(store, "m-20990101T000000000000Z-000000000000")


# ----- gc ---------------------------------------------------------------------------------
def _chain(store: Store, n: int) -> list[Manifest]:
    """n daily manifests; the library is rebuilt each day, acme is carried throughout."""
    acme = snapshot(store, ACME, [row("weekend")])
    out = []
    for day in range(n):
        at = T0 + timedelta(days=day)
        out.append(
            commit(store, {LIB: snapshot(store, LIB, [row(f"pb-{day}")], at), ACME: acme}, at)
        )
    return out


def _snapshots_on_disk(store: Store) -> set[tuple[str, str]]:
    return {(c, s) for c in store.collections_on_disk() for s in store.snapshot_ids(c)}


def _named(manifests: list[Manifest]) -> set[tuple[str, str]]:
    return {(c, r.snapshot_id) for m in manifests for c, r in m.collections.items()}


def test_gc_keeps_the_newest_n_and_deletes_what_only_older_manifests_name(store: Store) -> None:
    ms = _chain(store, 6)
    report = gc(store, keep_last=2, keep_days=0, now=T0 + timedelta(days=100))
    assert store.manifest_ids() == [ms[4].manifest_id, ms[5].manifest_id]
    assert report.deleted_manifests == [m.manifest_id for m in ms[:4]]
    assert _snapshots_on_disk(store) == _named(ms[4:])  # acme's carried snapshot survives
    assert {(s.collection, s.snapshot_id) for s in report.deleted_snapshots} == (
        _named(ms[:4]) - _named(ms[4:])
    )
    for m in ms[4:]:
        assert_loads(store, m.manifest_id)


def test_gc_keeps_manifests_younger_than_d_days_pinned_ones_and_current(store: Store) -> None:
    ms = _chain(store, 6)
    pin(store, ms[0].manifest_id)
    rolled = rollback(store, ms[1].manifest_id, now=T0 + timedelta(days=6))  # CURRENT -> m1's
    report = gc(store, keep_last=1, keep_days=2.5, now=T0 + timedelta(days=7, hours=1))
    kept = set(store.manifest_ids())
    assert kept == {ms[0].manifest_id, ms[5].manifest_id, rolled.manifest_id}
    assert "pinned" in report.kept_manifests[ms[0].manifest_id]
    assert rolled.manifest_id is not None
    assert report.kept_manifests[rolled.manifest_id][0] == "current"
    assert "younger than 2.5 days" in report.kept_manifests[ms[5].manifest_id]
    assert _snapshots_on_disk(store) == _named([store.read_manifest(k) for k in kept])
    for mid in kept:
        assert_loads(store, mid)  # m1's library snapshot lives on through the rollback


def test_gc_leaves_unnamed_snapshots_younger_than_the_grace_period(store: Store) -> None:
    ms = _chain(store, 2)
    now = T0 + timedelta(days=50)
    in_flight = snapshot(store, LIB, [row("being-committed")], now - timedelta(minutes=10))
    crashed = snapshot(store, LIB, [row("never-committed")], now - timedelta(hours=3))
    report = gc(store, keep_last=1, keep_days=0, now=now)
    on_disk = _snapshots_on_disk(store)
    assert (LIB, in_flight.snapshot_id) in on_disk
    assert (LIB, crashed.snapshot_id) not in on_disk
    assert report.recent_snapshots == [f"{LIB}/{in_flight.snapshot_id}"]
    assert store.manifest_ids() == [ms[1].manifest_id]


def test_gc_dry_run_deletes_nothing_and_reports_the_same(store: Store) -> None:
    _chain(store, 4)
    ids, disk = store.manifest_ids(), _snapshots_on_disk(store)
    dry = gc(store, keep_last=1, keep_days=0, dry_run=True, now=T0 + timedelta(days=30))
    assert (store.manifest_ids(), _snapshots_on_disk(store)) == (ids, disk)
    real = gc(store, keep_last=1, keep_days=0, now=T0 + timedelta(days=30))
    assert real.deleted_manifests == dry.deleted_manifests
    assert [s.snapshot_id for s in real.deleted_snapshots] == [
        s.snapshot_id for s in dry.deleted_snapshots
    ]
    assert all(s.files == 3 for s in real.deleted_snapshots)


def test_gc_refuses_to_run_over_an_unreadable_manifest(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    ms = _chain(store, 3)
    path = tmp_path / "store" / "manifests" / f"{ms[0].manifest_id}.json"
    path.write_text(path.read_text().replace('"rows": 1', '"rows": 2', 1))
    disk = _snapshots_on_disk(store)
    with pytest.raises(StoreError, match=f"gc refuses to run: manifest {ms[0].manifest_id}"):
        gc(store, keep_last=1, keep_days=0, now=T0 + timedelta(days=30))
    assert _snapshots_on_disk(store) == disk and len(store.manifest_ids()) == 3
    with pytest.raises(ChecksumMismatch):
        store.read_manifest(ms[0].manifest_id)


@pytest.mark.parametrize("seed", range(6))
def test_gc_never_deletes_what_a_retained_or_pinned_manifest_names(
    tmp_path: Path, seed: int
) -> None:
    """Random histories (commits, rollbacks, pins, orphans), random retention."""
    rnd = random.Random(seed)
    store = Store(LocalBlobs(tmp_path / "store"))
    names = [LIB, ACME, GLOBEX]
    at = T0
    for step in range(14):
        at += timedelta(hours=rnd.randint(1, 40))
        head = store.current().manifest_id
        base = dict(store.read_manifest(head).collections) if head else {}
        action = rnd.random()
        if head and action < 0.2:
            target = rnd.choice(store.manifest_ids())
            coll = rnd.choice([None, *store.read_manifest(target).collections])
            rollback(store, target, coll, now=at)
        elif action < 0.3:  # a run that lost its race: an orphan manifest and snapshot
            orphan = snapshot(store, rnd.choice(names), [row(f"o{step}")], at)
            store.write_manifest(
                Manifest.create(
                    parent=head,
                    created_by={},
                    model=MODEL,
                    collections={**base, orphan.collection: orphan},
                    now=at,
                )
            )
        else:
            changed = rnd.sample(names, rnd.randint(1, 2))
            refs = {
                n: snapshot(store, n, [row(f"p{step}-{i}") for i in range(rnd.randint(1, 3))], at)
                for n in changed
            }
            commit(store, {**base, **refs}, at)
        if rnd.random() < 0.15:
            pin(store, rnd.choice(store.manifest_ids()))
    now = at + timedelta(hours=rnd.randint(0, 100))
    keep_last, keep_days = rnd.randint(0, 4), rnd.choice([0, 0.5, 2.0])
    report = gc(store, keep_last=keep_last, keep_days=keep_days, now=now)

    kept = set(store.manifest_ids())
    assert set(report.kept_manifests) == kept
    assert set(store.pinned_ids()) <= kept
    assert store.current().manifest_id in kept
    for mid in kept:
        assert_loads(store, mid)
    for gone in report.deleted_snapshots:  # only unnamed, and only outside the grace period
        assert (gone.collection, gone.snapshot_id) not in _named(
            [store.read_manifest(k) for k in kept]
        )


# ----- the CLI ----------------------------------------------------------------------------
def _cli(capsys: pytest.CaptureFixture[str], store: Path, *argv: str) -> tuple[int, str, str]:
    cmd, *rest = argv
    code = cli_snapshots.main(["snapshots", cmd, "--store", str(store), *rest])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_list_show_diff_rollback_pin_gc(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    store = Store(LocalBlobs(root))
    lib0 = snapshot(store, LIB, [row("rds-stop"), row("old-one")])
    m0 = commit(store, {LIB: lib0})
    lib1 = snapshot(store, LIB, [row("rds-stop", status="deprecated")], T0 + timedelta(1))
    m1 = commit(store, {LIB: lib1}, T0 + timedelta(1))

    code, out, _ = _cli(capsys, root, "list")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == [
        "manifest",
        "created",
        "(UTC)",
        "parent",
        "colls",
        "rows",
        "rejected",
        "notes",
    ]
    assert lines[1].startswith(f"* {m1.manifest_id}  2025-01-02 00:00:00Z  {m0.manifest_id}")
    assert lines[2].startswith(f"  {m0.manifest_id}  2025-01-01 00:00:00Z  -")

    code, out, _ = _cli(capsys, root, "diff", "CURRENT~1", "CURRENT")
    assert out.splitlines() == [
        f"diff {m0.manifest_id} -> {m1.manifest_id}",
        f"  {LIB}: {lib0.snapshot_id} -> {lib1.snapshot_id}, 2 -> 1 versions: 0 added, "
        "1 removed, 0 changed, 1 status changes",
        "      - old-one v1.0.0",
        "      ! rds-stop v1.0.0: status active -> deprecated",
    ]

    code, out, _ = _cli(capsys, root, "rollback", "--to", m0.manifest_id, "--json")
    result = json.loads(out)
    assert code == 0 and result["committed"] and result["changed"] == [LIB]
    assert store.current().manifest_id == result["manifest_id"]

    code, out, _ = _cli(capsys, root, "show", "CURRENT", "--verify")
    assert code == 0 and f"rollback  to {m0.manifest_id}" in out and " ok" in out

    code, out, _ = _cli(capsys, root, "pin", m1.manifest_id[:-4])
    assert (code, out) == (0, f"pinned: {m1.manifest_id}\n")

    code, out, _ = _cli(capsys, root, "gc", "--keep-last", "1", "--keep-days", "0", "--dry-run")
    assert code == 0 and "would delete 0 query model folders" in out
    assert "kept 0 query model folders named by kept manifests" in out
    code, out, _ = _cli(capsys, root, "gc", "--keep-last", "1", "--keep-days", "0", "--json")
    report = json.loads(out)
    assert code == 0 and report["deleted_manifests"] == [m0.manifest_id]
    assert report["kept_manifests"][m1.manifest_id] == ["pinned"]


def test_cli_errors_are_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "store"
    code, out, err = _cli(capsys, root, "show", "CURRENT")
    assert (code, out) == (1, "")
    assert err == f"playbooks snapshots: error: {root} has no CURRENT manifest yet\n"
    store = Store(LocalBlobs(root))
    commit(store, {LIB: snapshot(store, LIB, [row("a")])})
    code, _, err = _cli(capsys, root, "rollback", "--to", "CURRENT", "--collection", ACME)
    assert (
        code == 1
        and err.startswith("playbooks snapshots: error: manifest m-")
        and err.endswith(f"has no collection '{ACME}' (it has: {LIB})\n")
    )


def test_cli_gc_help_states_the_library_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from indexer.snapshots import DEFAULT_GRACE, DEFAULT_KEEP_DAYS, DEFAULT_KEEP_LAST

    with pytest.raises(SystemExit) as done:
        cli_snapshots.main(["snapshots", "gc", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert done.value.code == 0 and "examples:" in help_text
    assert f"(default {DEFAULT_KEEP_LAST})" in help_text
    assert f"(default {DEFAULT_KEEP_DAYS:g})" in help_text
    assert f"(default {DEFAULT_GRACE.total_seconds() / 3600:g})" in help_text
