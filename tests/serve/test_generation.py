"""Loading a manifest: verified or refused whole; never half-loaded."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.errors import ChecksumMismatch, NotFound, StoreError
from indexer.model import LIBRARY_COLLECTION
from indexer.store import Manifest, Store
from serve.app import create_app, swap_generation
from serve.collection_cache import CollectionUnavailable
from serve.generation import load_generation
from tests.serve._helpers import make_settings, search
from tests.serve._tiny_store import (
    LIBRARY,
    TENANTS,
    TinyStore,
    commit,
    index_bytes,
    open_store,
    row,
    snapshot_table,
)


def copy_store(tiny_store: TinyStore, tmp_path: Path) -> Path:
    target = tmp_path / "store"
    shutil.copytree(tiny_store.root, target)
    return target


def test_loads_every_collection_of_the_manifest(tiny_store: TinyStore, embedder: Embedder) -> None:
    store = open_store(tiny_store.root)
    generation = load_generation(store, tiny_store.manifest_id, embedder.identity)
    try:
        assert generation.manifest_id == tiny_store.manifest_id
        assert generation.row_counts() == {
            "escher_library": len(LIBRARY),
            "tenant_alpha_playbooks": 2,
            "tenant_beta_playbooks": 2,
        }
        assert generation.loaded() == [LIBRARY_COLLECTION]  # tenants load on first use
        library = generation.collection(LIBRARY_COLLECTION)
        assert library is not None and library.index.ntotal == library.rows
        columns = set(library.filter_table().column_names)
        assert "vector" not in columns and "parameters_json" not in columns
        assert {"status", "tags", "row_id"} <= columns
        assert "vector" not in library.table.column_names  # one copy: the index's storage
        assert library.features.vectors.shape == (library.rows, embedder.identity.dimension)
        assert library.features.vectors[1] == pytest.approx(library.index.reconstruct(1))
        record = library.records([0])[0]
        assert "vector" not in record and record["playbook_id"] == LIBRARY[0].playbook_id
        assert library.newest_visible["escher-aws-rds-stop"] == "1.2.0"
    finally:
        generation.close()


def test_a_manifest_built_with_another_model_is_refused(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    other = dataclasses.replace(embedder.identity, weights_sha256="0" * 64)
    with pytest.raises(StoreError) as info:
        load_generation(open_store(tiny_store.root), tiny_store.manifest_id, other)
    message = info.value.message
    assert embedder.identity.weights_sha256[:12] in message and "000000000000" in message
    assert info.value.details["manifest_model"] == embedder.identity.to_dict()
    assert info.value.details["server_model"] == other.to_dict()


def corrupt_index_file(root: Path, manifest_id: str, collection: str) -> None:
    ref = open_store(root).read_manifest(manifest_id).collections[collection]
    index_file = root / ref.path / "index.faiss"
    data = bytearray(index_file.read_bytes())
    data[-1] ^= 0xFF
    index_file.write_bytes(bytes(data))


def test_a_corrupt_library_file_is_refused(
    tiny_store: TinyStore, embedder: Embedder, tmp_path: Path
) -> None:
    root = copy_store(tiny_store, tmp_path)
    corrupt_index_file(root, tiny_store.manifest_id, LIBRARY_COLLECTION)
    with pytest.raises(ChecksumMismatch) as info:
        load_generation(open_store(root), tiny_store.manifest_id, embedder.identity)
    assert "index.faiss" in info.value.message


def test_a_corrupt_tenant_file_is_refused_when_the_tenant_is_needed(
    tiny_store: TinyStore, embedder: Embedder, tmp_path: Path
) -> None:
    root = copy_store(tiny_store, tmp_path)
    corrupt_index_file(root, tiny_store.manifest_id, "tenant_beta_playbooks")
    generation = load_generation(open_store(root), tiny_store.manifest_id, embedder.identity)
    try:
        with pytest.raises(CollectionUnavailable) as info:
            generation.collection("tenant_beta_playbooks")
        assert info.value.status == 503 and info.value.code == "checksum_mismatch"
        assert "index.faiss" in info.value.message
        assert generation.collection("tenant_alpha_playbooks") is not None
    finally:
        generation.close()


def test_an_index_with_the_wrong_row_count_is_refused(
    tiny_store: TinyStore, embedder: Embedder, tmp_path: Path
) -> None:
    store = open_store(copy_store(tiny_store, tmp_path))
    rows = [row(p, LIBRARY_COLLECTION, "/src") for p in LIBRARY[:2]]
    vectors = embedder.embed([p.text for p in LIBRARY[:2]])
    ref = store.write_snapshot(
        LIBRARY_COLLECTION,
        snapshot_table(rows, vectors),
        index_bytes(vectors[:1]),
        {},
        source_fingerprint="short",
    )
    manifest = Manifest.create(
        parent=None, created_by={}, model=embedder.identity, collections={LIBRARY_COLLECTION: ref}
    )
    store.write_manifest(manifest)
    with pytest.raises(StoreError) as info:
        load_generation(store, manifest.manifest_id, embedder.identity)
    assert "holds 1 vectors but metadata.parquet has 2 rows" in info.value.message


def test_an_unknown_manifest_is_not_found(tiny_store: TinyStore, embedder: Embedder) -> None:
    with pytest.raises(NotFound):
        load_generation(open_store(tiny_store.root), "m-nope", embedder.identity)


def test_a_server_over_a_corrupt_store_starts_but_is_not_ready(
    tiny_store: TinyStore, embedder: Embedder, tmp_path: Path
) -> None:
    root = copy_store(tiny_store, tmp_path)
    ref = open_store(root).read_manifest(tiny_store.manifest_id).collections[LIBRARY_COLLECTION]
    (root / ref.path / "metadata.parquet").write_bytes(b"not parquet")
    with TestClient(create_app(make_settings(root), embedder=embedder)) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["error"]["details"]["load_error"]["code"] == "checksum_mismatch"
        assert c.app.state.generation is None  # type: ignore[attr-defined]


def test_a_pinned_manifest_is_served_instead_of_current(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    settings = make_settings(tiny_store.root, manifest=tiny_store.first_manifest)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        ready = c.get("/readyz").json()
        assert ready["manifest_id"] == tiny_store.first_manifest
        assert ready["collections"] == {"escher_library": 3}


def test_swapping_the_generation_is_one_reference(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    settings = make_settings(tiny_store.root)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        app = c.app
        assert c.get("/readyz").json()["manifest_id"] == tiny_store.manifest_id
        older = load_generation(
            open_store(tiny_store.root), tiny_store.first_manifest, embedder.identity
        )
        previous = swap_generation(app, older)  # type: ignore[arg-type]
        assert previous is not None and previous.manifest_id == tiny_store.manifest_id
        assert c.get("/readyz").json()["manifest_id"] == tiny_store.first_manifest
        body = c.post(
            "/api/playbook/search",
            json={"query": "stop rds"},
            headers={"Authorization": "Bearer alpha-key-0123456789abcdef"},
        ).json()
        assert body["manifest_id"] == tiny_store.first_manifest
        previous.close()


def test_serves_a_store_on_s3(moto_server: str, make_bucket: Any, embedder: Embedder) -> None:
    """The store root may be an S3 prefix (moto's S3 server over HTTP here)."""
    bucket = make_bucket("playbook-store")
    store = Store(open_blobs(f"s3://{bucket}/prod", moto_server))
    manifest_id = commit(store, embedder, LIBRARY[:3], {"alpha": TENANTS["alpha"]})
    settings = make_settings(f"s3://{bucket}/prod", endpoint_url=moto_server)
    with TestClient(create_app(settings, embedder=embedder)) as c:
        ready = c.get("/readyz").json()
        assert ready["manifest_id"] == manifest_id
        assert ready["collections"] == {"escher_library": 3, "tenant_alpha_playbooks": 2}
        body = search(c, "alpha", {"query": "stop an RDS database instance", "limit": 2})
        assert body["results"][0]["playbook_id"] == "escher-aws-rds-stop"
