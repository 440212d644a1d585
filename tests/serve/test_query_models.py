"""The server embeds queries with the manifest's ONNX query model: chosen, verified, shared
across swaps, reported; refused or replaced by torch when it cannot be used.

Stores are written by the real indexer with the real export (``blockwise-int8``, once per
session into ``model_cache``); S3 is moto's server over HTTP. Nothing here times anything.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from indexer.blobs import open_blobs
from indexer.build import run_index
from indexer.embed import Embedder, default_model_path, model_identity
from indexer.query_model import QueryModelPlan
from indexer.store import MODELS, Manifest, Store
from serve.app import create_app
from serve.poller import load_manifest
from serve.query_embed import OnnxQueryEmbedder
from serve.query_models import LazyTorchEmbedder, QueryModels
from tests._playbooks import write_playbook
from tests.serve._helpers import API_KEYS, auth, make_settings, search
from tests.serve._tiny_store import TinyStore

REPO = Path(__file__).resolve().parents[2]
QUERIES = [
    "stop the rds database for the weekend",
    "deallocate idle azure vms",
    "backup",
    "rotate iam access keys older than 90 days",
    "  shut down   staging mysql  ",
]


def write_sources(root: Path) -> tuple[Path, Path]:
    library, tenants = root / "library", root / "tenants"
    write_playbook(
        library,
        "escher-aws-rds-stop",
        "1.2.0",
        name="Stop RDS instance safely",
        description="Safely stop an Amazon RDS database instance after a snapshot",
        resource_types=["rds::instance"],
    )
    write_playbook(
        library,
        "escher-azure-vm-deallocate",
        name="Deallocate Azure VMs",
        description="Deallocate idle Azure virtual machines overnight",
        cloud_provider=["azure"],
        resource_types=["compute::virtual-machine"],
    )
    write_playbook(
        tenants,
        "alpha-weekend-shutdown",
        tenant="alpha",
        name="Alpha weekend shutdown",
        description="Stop the alpha reporting RDS databases every weekend",
        resource_types=["rds::instance"],
    )
    return library, tenants


def index_into(
    store: Store, sources: tuple[Path, Path], embedder: Embedder, plan: QueryModelPlan | None
) -> str:
    report = run_index(
        store=store,
        library=[open_blobs(str(sources[0]))],
        tenants=[open_blobs(str(sources[1]))],
        embedder=embedder,
        query_model=plan,
    )
    assert report.committed and report.manifest_id, report
    return report.manifest_id


@pytest.fixture(scope="module")
def onnx_store(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, model_cache: Path
) -> Path:
    """A local store whose manifest records the ONNX query model (treat as read-only)."""
    root = tmp_path_factory.mktemp("onnx-store")
    sources = write_sources(root)
    index_into(
        Store(open_blobs(str(root / "store"))),
        sources,
        embedder,
        QueryModelPlan("blockwise-int8", model_cache),
    )
    return root


def current_manifest(store_dir: Path) -> Manifest:
    store = Store(open_blobs(str(store_dir)))
    manifest_id = store.current().manifest_id
    assert manifest_id is not None
    return store.read_manifest(manifest_id)


@pytest.fixture(scope="module")
def onnx_client(onnx_store: Path, embedder: Embedder) -> Iterator[TestClient]:
    settings = make_settings(onnx_store / "store", poll_seconds=0, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as client:
        yield client


def metric_value(text: str, series: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_server_answers_with_the_manifests_onnx_query_model(
    onnx_client: TestClient, onnx_store: Path
) -> None:
    ready = onnx_client.get("/readyz").json()
    ref = current_manifest(onnx_store / "store").query_model
    assert ref is not None
    described = ready["query_embedder"]
    assert described["kind"] == "onnx" and described["mode"] == "auto"
    assert described["scheme"] == "blockwise-int8"
    assert described["onnx_sha256"] == ref.onnx_sha256
    assert described["path"] == str(onnx_store / "store" / MODELS / ref.key)  # read in place
    assert described["threads"] == 1
    generation = onnx_client.app.state.generation  # type: ignore[attr-defined]
    assert isinstance(generation.query_embedder, OnnxQueryEmbedder)

    first = search(onnx_client, "alpha", {"query": "stop the rds database for the weekend"})
    assert first["results"][0]["playbook_id"] in {"alpha-weekend-shutdown", "escher-aws-rds-stop"}
    search(onnx_client, "alpha", {"query": "  stop the rds database   for the weekend"})
    cache = onnx_client.get("/readyz").json()["query_embedder"]["cache"]
    assert cache["hits"] >= 1 and cache["capacity"] == 4096

    metrics = onnx_client.get("/metrics").text
    info = 'playbooks_query_embedder_info{kind="onnx",scheme="blockwise-int8"}'
    assert metric_value(metrics, info) == 1
    hits = metric_value(metrics, "playbooks_query_cache_hits_total")
    assert hits is not None and hits >= 1
    assert metric_value(metrics, "playbooks_query_cache_misses_total") is not None


def test_onnx_query_vectors_agree_with_torch(onnx_store: Path, embedder: Embedder) -> None:
    store = Store(open_blobs(str(onnx_store / "store")))
    manifest = current_manifest(onnx_store / "store")
    onnx = QueryModels(store, embedder, cache_size=0).for_manifest(manifest)
    assert isinstance(onnx, OnnxQueryEmbedder)
    assert onnx.identity == manifest.model == embedder.identity
    for query in QUERIES:
        cosine = float(np.dot(onnx.embed_one(query), embedder.embed_one(query.strip())))
        assert cosine >= 0.99, (query, cosine)


def test_onnx_and_torch_rank_the_same_top_results(
    onnx_client: TestClient, onnx_store: Path, embedder: Embedder
) -> None:
    settings = make_settings(
        onnx_store / "store", poll_seconds=0, querylog="false", query_embedder="torch"
    )
    with TestClient(create_app(settings, embedder=embedder)) as torch_client:
        assert torch_client.get("/readyz").json()["query_embedder"]["kind"] == "torch"
        for query in ("deallocate idle azure vms", "stop rds before the weekend"):
            body = {"query": query, "limit": 2}
            onnx_ids = [r["playbook_id"] for r in search(onnx_client, "alpha", body)["results"]]
            torch_ids = [r["playbook_id"] for r in search(torch_client, "alpha", body)["results"]]
            assert onnx_ids[:1] == torch_ids[:1], query


def tampered_copy(onnx_store: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the store whose ONNX file has one byte changed; returns (store, file)."""
    store_dir = tmp_path / "store"
    shutil.copytree(onnx_store / "store", store_dir)
    ref = current_manifest(store_dir).query_model
    assert ref is not None
    onnx_file = store_dir / ref.path / ref.onnx_file
    data = bytearray(onnx_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx_file.write_bytes(bytes(data))
    return store_dir, onnx_file


def test_onnx_mode_refuses_a_tampered_onnx_file_naming_it(
    onnx_store: Path, tmp_path: Path, embedder: Embedder
) -> None:
    store_dir, onnx_file = tampered_copy(onnx_store, tmp_path)
    settings = make_settings(store_dir, poll_seconds=0, querylog="false", query_embedder="onnx")
    with TestClient(create_app(settings, embedder=embedder)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        load_error = response.json()["error"]["details"]["load_error"]
        assert load_error["code"] == "checksum_mismatch"
        assert str(onnx_file) in load_error["message"]
        assert "manifest expects" in load_error["message"]
        failures = 'playbooks_generation_load_failures_total{reason="checksum_mismatch"}'
        assert metric_value(client.get("/metrics").text, failures) == 1


def test_auto_mode_falls_back_to_torch_on_a_tampered_onnx_file(
    onnx_store: Path, tmp_path: Path, embedder: Embedder
) -> None:
    store_dir, onnx_file = tampered_copy(onnx_store, tmp_path)
    settings = make_settings(store_dir, poll_seconds=0, querylog="false")
    with TestClient(create_app(settings, embedder=embedder)) as client:
        described = client.get("/readyz").json()["query_embedder"]
        assert described["kind"] == "torch"
        assert described["fallback"]["code"] == "checksum_mismatch"
        assert str(onnx_file) in described["fallback"]["message"]
        found = search(client, "alpha", {"query": "deallocate idle azure vms"})
        assert found["results"][0]["playbook_id"] == "escher-azure-vm-deallocate"
        metrics = client.get("/metrics").text
        fallbacks = 'playbooks_query_embedder_fallbacks_total{reason="checksum_mismatch"}'
        assert metric_value(metrics, fallbacks) == 1
        assert metric_value(metrics, 'playbooks_query_embedder_info{kind="torch",scheme=""}') == 1


def test_onnx_mode_refuses_a_manifest_without_a_query_model(
    tiny_store: TinyStore, embedder: Embedder
) -> None:
    settings = make_settings(
        tiny_store.root, poll_seconds=0, querylog="false", query_embedder="onnx"
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        response = client.get("/readyz")
        assert response.status_code == 503
        load_error = response.json()["error"]["details"]["load_error"]
        assert load_error["code"] == "query_model_missing"
        assert tiny_store.manifest_id in load_error["message"]
        assert "PLAYBOOKS_QUERY_MODEL" in load_error["message"]
        r = client.post("/api/playbook/search", json={"query": "stop rds"}, headers=auth("alpha"))
        assert r.status_code == 503


def test_a_hot_swap_to_the_same_query_model_reuses_the_session(
    onnx_store: Path, tmp_path: Path, embedder: Embedder
) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(onnx_store / "store", store_dir)
    settings = make_settings(store_dir, poll_seconds=0, querylog="false")
    app = create_app(settings, embedder=embedder)
    with TestClient(app) as client:
        before = app.state.generation
        search(client, "alpha", {"query": "deallocate idle azure vms"})
        sources = write_sources(tmp_path / "sources")
        write_playbook(sources[1], "alpha-db-backup", tenant="alpha", name="Alpha database backup")
        # No plan (as the write path's reindex): the parent's query model is carried over.
        new_id = index_into(Store(open_blobs(str(store_dir))), sources, embedder, None)
        assert load_manifest(app, new_id)
        after = app.state.generation
        assert after.manifest_id == new_id != before.manifest_id
        assert after.query_embedder is before.query_embedder  # one session, one cache
        assert client.get("/readyz").json()["query_embedder"]["cache"]["misses"] >= 1


def test_an_s3_store_serves_its_query_model_from_the_local_cache(
    make_bucket: Callable[[str], str],
    moto_server: str,
    tmp_path: Path,
    embedder: Embedder,
    model_cache: Path,
) -> None:
    make_bucket("index")
    store = Store(open_blobs("s3://index/prod", moto_server))
    index_into(
        store,
        write_sources(tmp_path / "sources"),
        embedder,
        QueryModelPlan("blockwise-int8", model_cache),
    )
    manifest_id = store.current().manifest_id
    assert manifest_id is not None
    ref = store.read_manifest(manifest_id).query_model
    assert ref is not None
    server_cache = tmp_path / "server-cache"
    settings = make_settings(
        "s3://index/prod",
        endpoint_url=moto_server,
        model_cache_dir=server_cache,
        poll_seconds=0,
        querylog="false",
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        described = client.get("/readyz").json()["query_embedder"]
        assert described["kind"] == "onnx"
        assert described["path"] == str(server_cache / "store-models" / ref.key)
        assert sorted(p.name for p in (server_cache / "store-models" / ref.key).iterdir()) == (
            sorted(ref.files)
        )
        found = search(client, "alpha", {"query": "deallocate idle azure vms"})
        assert found["results"][0]["playbook_id"] == "escher-azure-vm-deallocate"


def test_a_server_answering_with_onnx_never_imports_torch(onnx_store: Path) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from starlette.testclient import TestClient
        from indexer.settings import load_settings
        from serve.app import create_app
        from serve.local import search_store

        settings = load_settings(
            {{"store": {str(onnx_store / "store")!r}, "api_keys": {API_KEYS!r},
              "poll_seconds": "0", "querylog": "false"}},
            environ={{}},
        )
        with TestClient(create_app(settings)) as client:
            kind = client.get("/readyz").json()["query_embedder"]["kind"]
            status = client.post(
                "/api/playbook/search",
                json={{"query": "stop rds"}},
                headers={{"Authorization": "Bearer alpha-key-0123456789abcdef"}},
            ).status_code
        local = search_store(settings, {{"query": "deallocate idle azure vms"}})
        print(json.dumps({{
            "kind": kind,
            "status": status,
            "local": local["results"][0]["playbook_id"],
            "torch": "torch" in sys.modules,
            "sentence_transformers": "sentence_transformers" in sys.modules,
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(onnx_store)},
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {
        "kind": "onnx",
        "status": 200,
        "local": "escher-azure-vm-deallocate",
        "torch": False,
        "sentence_transformers": False,
    }


def test_the_lazy_torch_embedder_loads_nothing_until_asked() -> None:
    lazy = LazyTorchEmbedder(None)
    assert lazy.identity == model_identity()  # the weights' hash: no model loaded
    assert not lazy.loaded
    assert lazy.path == default_model_path()  # any other Embedder attribute: created now
    assert lazy.loaded
