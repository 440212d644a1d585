"""The vector index per snapshot: flat below ``hnsw_min_rows``, HNSW from there up; the
kind recorded in snapshot.json; vectors recoverable from either; reuse across runs."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from indexer.blobs import LocalBlobs
from indexer.build import RunReport, run_index
from indexer.embed import Embedder
from indexer.errors import ConfigError
from indexer.model import LIBRARY_COLLECTION, tenant_collection
from indexer.settings import load_settings
from indexer.store import Store
from indexer.vectors import (
    FLAT,
    HNSW,
    HNSW_M,
    INDEX_KIND,
    build_index,
    index_bytes,
    index_kind,
    is_hnsw,
    load_index,
    vector_matrix,
)
from serve.vector_search import nearest
from tests._playbooks import write_playbook


def unit_vectors(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_kind_follows_the_row_count() -> None:
    assert index_kind(49_999) == INDEX_KIND
    hnsw = index_kind(50_000)
    assert (hnsw["type"], hnsw["metric"], hnsw["M"]) == (HNSW, "inner_product", HNSW_M)
    assert {"ef_construction", "ef_search"} <= set(hnsw)
    assert index_kind(10, hnsw_min_rows=10)["type"] == HNSW
    assert index_kind(9, hnsw_min_rows=10)["type"] == FLAT


@pytest.mark.parametrize("threshold,hnsw", [(1_000, False), (100, True)])
def test_either_kind_round_trips_and_gives_back_its_vectors(threshold: int, hnsw: bool) -> None:
    x = unit_vectors(300)
    index = load_index(index_bytes(x, 16, hnsw_min_rows=threshold))
    assert is_hnsw(index) is hnsw
    assert index.ntotal == 300 and index.metric_type == faiss.METRIC_INNER_PRODUCT
    matrix = vector_matrix(index)
    assert matrix.dtype == np.float32 and np.array_equal(matrix, x)
    assert not matrix.flags.writeable
    _, rows = index.search(x[:5], 1)
    assert rows[:, 0].tolist() == [0, 1, 2, 3, 4]  # each vector is its own nearest


def test_an_empty_collection_gets_an_empty_flat_index() -> None:
    index = build_index(np.zeros((0, 16), np.float32), 16, hnsw_min_rows=0)
    assert index.ntotal == 0 and vector_matrix(index).shape == (0, 16)
    assert not is_hnsw(build_index(np.zeros((0, 16), np.float32), 16))


def test_hnsw_min_rows_setting_is_validated() -> None:
    assert load_settings({}).hnsw_min_rows == 50_000
    assert load_settings({"hnsw_min_rows": "7"}).hnsw_min_rows == 7
    with pytest.raises(ConfigError, match="PLAYBOOKS_HNSW_MIN_ROWS: expected a positive integer"):
        load_settings({"hnsw_min_rows": "0"})


def test_the_indexer_writes_hnsw_above_the_threshold_and_reuses_its_vectors(
    tmp_path: Path, embedder: Embedder
) -> None:
    lib, ten = tmp_path / "lib", tmp_path / "ten"
    for i, text in enumerate(["Stop an RDS instance", "Start a GCE VM", "Resize an AKS pool"]):
        write_playbook(lib, f"play-{i}", description=text)
    write_playbook(ten, "weekend-shutdown", tenant="acme", description="Weekend RDS shutdown")
    store = Store(LocalBlobs(tmp_path / "store"))

    def run() -> RunReport:
        report = run_index(
            store=store,
            library=[LocalBlobs(lib)],
            tenants=[LocalBlobs(ten)],
            embedder=embedder,
            hnsw_min_rows=3,
        )
        assert report.committed and report.manifest_id
        return report

    refs = store.read_manifest(str(run().manifest_id)).collections
    library = store.load_snapshot(refs[LIBRARY_COLLECTION])
    assert library.description["index"] == index_kind(3, hnsw_min_rows=3)
    index = load_index(library.index_bytes)
    assert is_hnsw(index)
    assert index.hnsw.efConstruction == library.description["index"]["ef_construction"]
    parquet = np.stack(library.table.column("vector").to_numpy(zero_copy_only=False))
    assert np.allclose(vector_matrix(index), parquet)
    tenant = store.load_snapshot(refs[tenant_collection("acme")])
    assert tenant.description["index"] == INDEX_KIND
    assert not is_hnsw(load_index(tenant.index_bytes))

    # The query side searches the stored HNSW index (filter pushed in).
    query = embedder.embed(["stop the database"])[0]
    hit = nearest(
        index, vector_matrix(index), np.array([0, 1], np.int64), query, 1, exact_max_rows=0
    )
    assert hit.strategy == "hnsw_filtered"
    assert library.table.column("playbook_id")[int(hit.rows[0])].as_py() == "play-0"

    # A rebuild reuses the unchanged vectors of the HNSW parent.
    write_playbook(lib, "play-3", description="Rotate IAM access keys")
    again = run().collections[LIBRARY_COLLECTION]
    assert (again.action, again.indexed, again.reused, again.embedded) == ("built", 4, 3, 1)
