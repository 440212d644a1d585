"""Commit manifests that fail to load in each way a server must survive.

Each helper writes a manifest through :class:`indexer.store.Store` (so its id matches its
content and ``swap_current`` accepts it) and moves CURRENT to it; only loading the
snapshot it names fails: a checksum that does not match the file, a file that is not
there, or a model other than the server's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from indexer.model import LIBRARY_COLLECTION
from indexer.store import INDEX_FILE, FileSum, Manifest, ModelIdentity, SnapshotRef, Store


def commit_manifest(
    store: Store,
    collections: Mapping[str, SnapshotRef],
    model: ModelIdentity,
    tool: str = "tests/serve/_manifests",
) -> str:
    """Write a manifest naming ``collections`` and move CURRENT to it; returns its id."""
    pointer = store.current()
    manifest = Manifest.create(
        parent=pointer.manifest_id,
        created_by={"tool": tool},
        model=model,
        collections=dict(collections),
    )
    store.write_manifest(manifest)
    store.swap_current(manifest.manifest_id, pointer)
    return manifest.manifest_id


def _live(store: Store) -> Manifest:
    current = store.current().manifest_id
    assert current is not None, "the store has no CURRENT"
    return store.read_manifest(current)


def commit_bad_checksum(store: Store, collection: str = LIBRARY_COLLECTION) -> str:
    """CURRENT's manifest, but ``collection``'s index.faiss checksum no longer matches."""
    live = _live(store)
    ref = live.collections[collection]
    good = ref.files[INDEX_FILE]
    flipped = ("0" if good.sha256[0] != "0" else "1") + good.sha256[1:]
    files = {**ref.files, INDEX_FILE: FileSum(flipped, good.bytes)}
    refs = {**live.collections, collection: dataclasses.replace(ref, files=files)}
    return commit_manifest(store, refs, live.model, tool="corrupt:checksum")


def commit_missing_snapshot(store: Store, collection: str = LIBRARY_COLLECTION) -> str:
    """CURRENT's manifest, but ``collection`` names a snapshot folder that does not exist."""
    live = _live(store)
    ref = live.collections[collection]
    missing = dataclasses.replace(ref, snapshot_id=f"{ref.snapshot_id}-missing")
    return commit_manifest(
        store, {**live.collections, collection: missing}, live.model, tool="corrupt:missing"
    )


def commit_other_model(store: Store) -> str:
    """CURRENT's snapshots under a manifest that records another embedding model."""
    live = _live(store)
    other = dataclasses.replace(live.model, weights_sha256="f" * 64, name="another-model")
    return commit_manifest(store, live.collections, other, tool="corrupt:model")
