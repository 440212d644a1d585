"""Store: the optional ``features.bin`` of a snapshot (written, checksummed, read back),
and :meth:`Store.add_features` for snapshots written before it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from indexer.blobs import LocalBlobs, S3Blobs
from indexer.errors import ChecksumMismatch
from indexer.store import (
    DESCRIPTION_FILE,
    FEATURES_FILE,
    INDEX_FILE,
    METADATA_FILE,
    SnapshotRef,
    Store,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FEATURES = b"PBFEATS\n pretend features"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return Store(LocalBlobs(tmp_path / "store"))
    client = request.getfixturevalue("s3")
    request.getfixturevalue("make_bucket")("escher-index")
    return Store(S3Blobs("escher-index", "store", client))


def table() -> pa.Table:
    return pa.table({"playbook_id": ["a", "b", "c"]})


def write(store: Store, features: bytes | None = None) -> SnapshotRef:
    return store.write_snapshot(
        "escher_library",
        table(),
        b"faiss",
        {"model": "test"},
        "fp-1",
        rejected=1,
        now=T0,
        features_bytes=features,
    )


def test_features_file_is_written_checksummed_and_read_back(store: Store) -> None:
    ref = write(store, FEATURES)
    assert set(ref.files) == {METADATA_FILE, INDEX_FILE, FEATURES_FILE, DESCRIPTION_FILE}
    assert ref.files[FEATURES_FILE].bytes == len(FEATURES)
    data = store.load_snapshot(ref)
    assert data.features_bytes == FEATURES
    assert FEATURES_FILE in data.description["files"]
    # the snapshot id covers the features file too
    assert ref.snapshot_id != write(store).snapshot_id


def test_snapshots_without_features_read_as_none_and_keep_their_ids(store: Store) -> None:
    ref = write(store)
    assert FEATURES_FILE not in ref.files
    assert store.load_snapshot(ref).features_bytes is None
    # the id scheme of snapshots written before features files is unchanged
    again = Store(store.blobs).write_snapshot(
        "escher_library", table(), b"faiss", {"model": "test"}, "fp-1", now=T0
    )
    assert again.snapshot_id == ref.snapshot_id


def test_a_changed_features_file_fails_the_load(store: Store) -> None:
    ref = write(store, FEATURES)
    store.blobs.write(f"{ref.path}/{FEATURES_FILE}", FEATURES[:-1] + b"!")
    with pytest.raises(ChecksumMismatch, match=rf"{FEATURES_FILE}: sha256 .* manifest expects"):
        store.load_snapshot(ref)


def test_add_features_makes_a_new_snapshot_and_leaves_the_old_one(store: Store) -> None:
    old = write(store)
    before = {k: store.blobs.read(f"{old.path}/{k}") for k in old.files}
    new = store.add_features(old, FEATURES, now=T0 + timedelta(hours=1))
    assert new.snapshot_id != old.snapshot_id
    assert (new.collection, new.rows, new.rejected) == (old.collection, 3, 1)
    assert new.source_fingerprint == old.source_fingerprint
    for name in (METADATA_FILE, INDEX_FILE):
        assert new.files[name] == old.files[name]
    data = store.load_snapshot(new)
    assert data.features_bytes == FEATURES
    assert data.table.equals(table()) and data.index_bytes == b"faiss"
    assert data.description["features_added_to"] == old.snapshot_id
    assert data.description["model"] == "test"
    assert {k: store.blobs.read(f"{old.path}/{k}") for k in old.files} == before
    assert store.load_snapshot(old).features_bytes is None


def test_add_features_hard_links_on_a_local_store(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    old = write(store)
    new = store.add_features(old, FEATURES, now=T0 + timedelta(hours=1))
    for name in (METADATA_FILE, INDEX_FILE):
        a = store.blobs.local_path(f"{old.path}/{name}")
        b = store.blobs.local_path(f"{new.path}/{name}")
        assert a is not None and b is not None and a.samefile(b)


def test_add_features_refuses_a_damaged_snapshot(tmp_path: Path) -> None:
    store = Store(LocalBlobs(tmp_path / "store"))
    old = write(store)
    store.blobs.write(f"{old.path}/{INDEX_FILE}", b"FAISS")
    with pytest.raises(ChecksumMismatch, match=INDEX_FILE):
        store.add_features(old, FEATURES)
    assert store.snapshot_ids("escher_library") == [old.snapshot_id]
