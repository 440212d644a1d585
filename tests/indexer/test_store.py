"""Store: snapshots, manifests and the CURRENT pointer on a local folder and on S3."""

from __future__ import annotations

import dataclasses
import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pyarrow as pa
import pytest

from indexer.blobs import LocalBlobs, S3Blobs
from indexer.errors import ChecksumMismatch, CommitConflict, NotFound, StoreError
from indexer.store import (
    CURRENT_KEY,
    DESCRIPTION_FILE,
    INDEX_FILE,
    METADATA_FILE,
    CurrentPointer,
    Manifest,
    ModelIdentity,
    SnapshotRef,
    Store,
    playbook_schema,
)

MODEL = ModelIdentity("all-MiniLM-L6-v2", "ab" * 32, 8)
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
SNAPSHOT_FILES = [METADATA_FILE, INDEX_FILE, DESCRIPTION_FILE]


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(LocalBlobs(tmp_path / "store"))
    client = request.getfixturevalue("s3")
    request.getfixturevalue("make_bucket")("escher-index")
    return Store(S3Blobs("escher-index", "store", client))


def small_table() -> pa.Table:
    return pa.table({"playbook_id": ["a", "b", "c"], "score": [0.5, 1.5, -2.0]})


def write_small(store: Store, collection: str = "escher_library", **kw: Any) -> SnapshotRef:
    return store.write_snapshot(
        collection, small_table(), b"\x00faiss-bytes\xff", {"model": "test"}, "fp-1", **kw
    )


def make_manifest(
    store: Store, parent: str | None = None, minutes: int = 0, note: str = ""
) -> Manifest:
    ref = write_small(store, now=T0 + timedelta(minutes=minutes))
    manifest = Manifest.create(
        parent=parent,
        created_by={"tool": "tests", "note": note},
        model=MODEL,
        collections={ref.collection: ref},
        report={"seen": 3},
        now=T0 + timedelta(minutes=minutes),
    )
    store.write_manifest(manifest)
    return manifest


def flip_one_byte(store: Store, key: str) -> None:
    data = bytearray(store.blobs.read(key))
    data[len(data) // 2] ^= 0xFF
    store.blobs.write(key, bytes(data))


# ----- snapshots ----------------------------------------------------------------------


def test_snapshot_round_trips_table_index_and_description(store: Store) -> None:
    ref = write_small(store, rejected=2)
    data = store.load_snapshot(ref)
    assert data.table.equals(small_table())
    assert data.index_bytes == b"\x00faiss-bytes\xff"
    assert data.description["rows"] == 3
    assert data.description["model"] == "test"
    assert data.description["source_fingerprint"] == "fp-1"
    assert set(data.description["files"]) == {METADATA_FILE, INDEX_FILE}
    assert (ref.rows, ref.rejected, ref.collection) == (3, 2, "escher_library")
    assert set(ref.files) == set(SNAPSHOT_FILES)
    assert store.snapshot_ids("escher_library") == [ref.snapshot_id]
    assert store.collections_on_disk() == ["escher_library"]


def test_playbook_schema_snapshot_keeps_rows_aligned_with_the_faiss_index(
    store: Store,
) -> None:
    dim, rows = 8, 6
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(rows, dim)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [
        {
            "collection": "tenant_acme_playbooks",
            "tenant_id": "acme",
            "playbook_id": f"pb-{i}",
            "version": f"1.{i}.0",
            "version_major": 1,
            "version_minor": i,
            "version_patch": 0,
            "name": f"Playbook {i}",
            "keywords": ["ec2", f"k{i}"],
            "tags": [("team", "ops")],
            "created_at": T0,
            "execution_count": i * 10,
            "success_rate": 0.9,
            "based_on_escher": i % 2 == 0,
            "scripts": [
                {
                    "format": "shell",
                    "path": "shell/run.sh",
                    "uri": "s3://x/y",
                    "sha256": "00",
                    "size_bytes": 12,
                }
            ],
            "vector": vectors[i].tolist(),
        }
        for i in range(rows)
    ]
    table = pa.Table.from_pylist(records, schema=playbook_schema(dim))
    index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    index_bytes = faiss.serialize_index(index).tobytes()

    ref = store.write_snapshot("tenant_acme_playbooks", table, index_bytes, {}, "fp")
    data = store.load_snapshot(ref)

    # Parquet names list items "element" rather than Arrow's "item"; types and values hold.
    assert data.table.cast(playbook_schema(dim)).equals(table)
    loaded = faiss.deserialize_index(np.frombuffer(data.index_bytes, dtype="uint8"))
    stored = np.array(data.table.column("vector").to_pylist(), dtype="float32")
    _, hits = loaded.search(stored, 1)
    assert hits[:, 0].tolist() == list(range(rows))  # row i of the index is parquet row i


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_a_flipped_byte_makes_load_raise_checksum_mismatch_naming_the_file(
    store: Store, name: str
) -> None:
    ref = write_small(store)
    key = f"{ref.path}/{name}"
    flip_one_byte(store, key)
    with pytest.raises(ChecksumMismatch) as err:
        store.load_snapshot(ref)
    assert store.blobs.uri_for(key) in str(err.value)
    assert err.value.details["file"] == store.blobs.uri_for(key)


@pytest.mark.parametrize("name", SNAPSHOT_FILES)
def test_a_missing_file_makes_load_raise_store_error_naming_it(store: Store, name: str) -> None:
    ref = write_small(store)
    key = f"{ref.path}/{name}"
    store.blobs.delete(key)
    with pytest.raises(StoreError) as err:
        store.load_snapshot(ref)
    assert not isinstance(err.value, ChecksumMismatch)
    assert f"{store.blobs.uri_for(key)} is missing" in str(err.value)


def test_delete_snapshot_removes_its_files(store: Store) -> None:
    keep = write_small(store, now=T0)
    drop = write_small(store, now=T0 + timedelta(seconds=1))
    assert store.delete_snapshot("escher_library", drop.snapshot_id) == 3
    assert store.snapshot_ids("escher_library") == [keep.snapshot_id]
    store.load_snapshot(keep)


def test_invalid_collection_names_are_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        write_small(store, collection="../escape")
    assert store.collections_on_disk() == []


# ----- manifests ----------------------------------------------------------------------


def test_manifest_round_trips_and_is_write_once(store: Store) -> None:
    manifest = make_manifest(store)
    store.write_manifest(manifest)  # the same content again: fine
    assert store.read_manifest(manifest.manifest_id) == manifest
    assert store.manifest_ids() == [manifest.manifest_id]

    other = dataclasses.replace(manifest, report={"seen": 4})
    with pytest.raises(StoreError) as err:
        store.write_manifest(other)
    assert "exists with other content" in str(err.value)
    key = f"manifests/{manifest.manifest_id}.json"
    assert store.blobs.read(key) == manifest.to_json()


EDITS = {
    "rows": lambda doc: doc["collections"]["escher_library"].update(rows=99),
    "snapshot": lambda doc: doc["collections"]["escher_library"].update(snapshot_id="s-other"),
    "checksum": lambda doc: doc["collections"]["escher_library"]["files"][INDEX_FILE].update(
        sha256="0" * 64
    ),
    "parent": lambda doc: doc.update(parent="m-20200101T000000000000Z-000000000000"),
    "model": lambda doc: doc["model"].update(dimension=384),
    "id": lambda doc: doc.update(manifest_id=doc["manifest_id"][:-1] + "0"),
}


@pytest.mark.parametrize("edit", EDITS)
def test_a_manifest_edited_by_hand_is_refused(store: Store, edit: str) -> None:
    manifest = make_manifest(store)
    doc = json.loads(manifest.to_json())
    EDITS[edit](doc)
    edited = json.dumps(doc, indent=2).encode()
    assert Manifest.from_json(manifest.to_json(), "here") == manifest  # untouched: fine

    with pytest.raises(ChecksumMismatch) as err:
        Manifest.from_json(edited, "edited.json")
    assert "edited.json" in str(err.value)

    key = f"manifests/{manifest.manifest_id}.json"
    store.blobs.write(key, edited)
    with pytest.raises(ChecksumMismatch) as read_err:
        store.read_manifest(manifest.manifest_id)
    assert store.blobs.uri_for(key) in str(read_err.value)


def test_a_manifest_that_is_not_json_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError) as err:
        Manifest.from_json(b"{not json", "broken.json")
    assert "broken.json" in str(err.value)


@pytest.mark.parametrize("manifest_id", ["m-20200101T000000000000Z-000000000000", "../CURRENT"])
def test_reading_an_unknown_manifest_is_not_found(store: Store, manifest_id: str) -> None:
    with pytest.raises(NotFound):
        store.read_manifest(manifest_id)


# ----- the CURRENT pointer ------------------------------------------------------------


def test_current_of_an_empty_store_is_none(store: Store) -> None:
    assert store.current() == CurrentPointer(None, None)
    assert store.current_tag() is None


def test_swap_current_moves_the_pointer(store: Store) -> None:
    first = make_manifest(store)
    moved = store.swap_current(first.manifest_id, store.current())
    assert store.current() == moved == CurrentPointer(first.manifest_id, moved.tag)
    second = make_manifest(store, parent=first.manifest_id, minutes=1)
    again = store.swap_current(second.manifest_id, store.current())
    assert store.current().manifest_id == second.manifest_id
    assert again.tag != moved.tag
    assert store.current_tag() == again.tag


@pytest.mark.parametrize("start", ["empty", "committed"])
def test_the_second_of_two_committers_from_one_pointer_conflicts(store: Store, start: str) -> None:
    if start == "committed":
        base = make_manifest(store, note="base")
        store.swap_current(base.manifest_id, store.current())
    seen = store.current()  # both committers start here
    mine = make_manifest(store, parent=seen.manifest_id, minutes=1, note="A")
    theirs = make_manifest(store, parent=seen.manifest_id, minutes=2, note="B")

    store.swap_current(mine.manifest_id, seen)
    with pytest.raises(CommitConflict):
        store.swap_current(theirs.manifest_id, seen)
    assert store.current().manifest_id == mine.manifest_id

    # The loser rebases on what it now sees and retries; nothing is lost.
    rebased = make_manifest(store, parent=mine.manifest_id, minutes=3, note="B rebased")
    store.swap_current(rebased.manifest_id, store.current())
    assert store.current().manifest_id == rebased.manifest_id
    assert store.read_manifest(rebased.manifest_id).parent == mine.manifest_id


def test_racing_committers_in_threads_have_exactly_one_winner(store: Store) -> None:
    base = make_manifest(store, note="base")
    store.swap_current(base.manifest_id, store.current())
    seen = store.current()
    candidates = [
        make_manifest(store, parent=base.manifest_id, minutes=i, note=f"writer {i}") for i in (1, 2)
    ]
    barrier = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def commit(manifest: Manifest) -> None:
        barrier.wait()
        try:
            store.swap_current(manifest.manifest_id, seen)
            outcome[manifest.manifest_id] = "won"
        except CommitConflict:
            outcome[manifest.manifest_id] = "lost"

    threads = [threading.Thread(target=commit, args=(m,)) for m in candidates]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(outcome.values()) == ["lost", "won"]
    [winner] = [mid for mid, result in outcome.items() if result == "won"]
    assert store.current().manifest_id == winner


def test_swap_current_refuses_a_manifest_that_was_never_written(store: Store) -> None:
    base = make_manifest(store)
    store.swap_current(base.manifest_id, store.current())
    ghost = Manifest.create(
        parent=base.manifest_id, created_by={}, model=MODEL, collections={}, now=T0
    )
    with pytest.raises(NotFound):
        store.swap_current(ghost.manifest_id, store.current())
    assert store.current().manifest_id == base.manifest_id


def test_swap_current_refuses_a_tampered_manifest(store: Store) -> None:
    manifest = make_manifest(store)
    key = f"manifests/{manifest.manifest_id}.json"
    doc = json.loads(store.blobs.read(key))
    doc["collections"]["escher_library"]["rows"] = 1000
    store.blobs.write(key, json.dumps(doc).encode())
    with pytest.raises(ChecksumMismatch):
        store.swap_current(manifest.manifest_id, store.current())
    assert store.current() == CurrentPointer(None, None)


def test_current_holding_garbage_is_a_store_error(store: Store) -> None:
    store.blobs.write(CURRENT_KEY, b"../../etc/passwd\n")
    with pytest.raises(StoreError) as err:
        store.current()
    assert store.blobs.uri_for(CURRENT_KEY) in str(err.value)
