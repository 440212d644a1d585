"""The whole pipeline against moto's S3 server over HTTP: buckets laid out as the spec's S3
section, ``playbooks index`` from S3 into a store on S3, and the server answering from it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer.blobs import open_blobs
from indexer.cli import main
from indexer.embed import Embedder
from indexer.settings import SAMPLE_LIBRARY, SAMPLE_TENANTS, load_settings
from indexer.store import Store
from serve.app import create_app

ACME_KEY = "e2e-key-for-acme-000001"
GLOBEX_KEY = "e2e-key-for-globex-00001"


@pytest.fixture
def s3_sources(make_bucket: Callable[[str], str], upload_tree: Callable[..., list[str]]) -> None:
    for bucket in ("escher-library", "escher-tenant-data", "escher-index"):
        make_bucket(bucket)
    upload_tree(SAMPLE_LIBRARY, "escher-library")  # -> playbooks/<id>/v<semver>/...
    upload_tree(SAMPLE_TENANTS, "escher-tenant-data")  # -> tenants/<t>/playbooks/...


def test_index_from_s3_into_an_s3_store_that_the_server_loads(
    s3_sources: None,
    moto_server: str,
    embedder: Embedder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            "index",
            "--library",
            "s3://escher-library",
            "--tenants",
            "s3://escher-tenant-data",
            "--store",
            "s3://escher-index/prod",
            "--endpoint-url",
            moto_server,
            "--json",
            "--quiet",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    import json

    report = json.loads(out)
    assert (report["seen"], report["indexed"], report["rejected"]) == (92, 87, 5)
    assert report["committed"]
    store = Store(open_blobs("s3://escher-index/prod", moto_server))
    assert store.current().manifest_id == report["manifest_id"]
    # Script locations point at the S3 sources, with checksums.
    lib = store.load_snapshot(
        store.read_manifest(report["manifest_id"]).collections["escher_library"]
    ).table
    scripts = [s for row in lib.column("scripts").to_pylist() for s in row]
    assert scripts and all(s["uri"].startswith("s3://escher-library/playbooks/") for s in scripts)
    assert all(len(s["sha256"]) == 64 for s in scripts)

    settings = load_settings(
        {
            "store": "s3://escher-index/prod",
            "endpoint_url": moto_server,
            "api_keys": f"{ACME_KEY}=acme,{GLOBEX_KEY}=globex",
            "log_json": "true",
        },
        environ={},
    )
    with TestClient(create_app(settings, embedder=embedder)) as client:
        ready = client.get("/readyz").json()
        assert ready["manifest_id"] == report["manifest_id"]
        body: dict[str, Any] = {
            "query": "Stop production RDS for weekend",
            "filters": {"cloud_provider": "aws"},
        }
        r = client.post(
            "/api/playbook/search", json=body, headers={"Authorization": f"Bearer {ACME_KEY}"}
        )
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert results[0]["playbook_id"] == "user-weekend-shutdown"
        assert results[0]["version"] == "1.2.0" and results[0]["source"] == "tenant"
        assert {x["collection"] for x in results} <= {"escher_library", "tenant_acme_playbooks"}


def test_local_and_s3_runs_index_the_same_playbooks(
    s3_sources: None,
    moto_server: str,
    embedder: Embedder,
    tmp_path: Path,
) -> None:
    from indexer.build import run_index

    local = Store(open_blobs(str(tmp_path)))
    r1 = run_index(
        store=local,
        library=[open_blobs(str(SAMPLE_LIBRARY))],
        tenants=[open_blobs(str(SAMPLE_TENANTS))],
        embedder=embedder,
    )
    remote = Store(open_blobs("s3://escher-index/other", moto_server))
    r2 = run_index(
        store=remote,
        library=[open_blobs("s3://escher-library", moto_server)],
        tenants=[open_blobs("s3://escher-tenant-data", moto_server)],
        embedder=embedder,
    )

    def rows(store: Store, manifest_id: str) -> set[tuple[str, str, str, str]]:
        out = set()
        for name, ref in store.read_manifest(manifest_id).collections.items():
            t = store.load_snapshot(ref).table
            out |= {
                (name, p, v, h)
                for p, v, h in zip(
                    t.column("playbook_id").to_pylist(),
                    t.column("version").to_pylist(),
                    t.column("content_hash").to_pylist(),
                    strict=True,
                )
            }
        return out

    assert r1.manifest_id and r2.manifest_id
    assert rows(local, r1.manifest_id) == rows(remote, r2.manifest_id)
    assert len(r1.rejections) == len(r2.rejections) == 5
