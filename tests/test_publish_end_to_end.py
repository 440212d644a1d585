"""The write path end to end against moto's S3 server over HTTP.

Sources (escher-library, escher-tenant-data) and the store (escher-index) are S3 buckets
on moto; the app runs in process with the in-process reindex. The story is the issue's:
request upload URLs, PUT the files with them, publish, find the playbook in search,
approve it and see its rank change, record three failed executions and see it disappear,
download a script with a pre-signed URL and verify its checksum. Time-to-searchable
(publish request -> first search that returns it) is measured and printed, not asserted.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from indexer.blobs import open_blobs
from indexer.embed import Embedder
from indexer.settings import SAMPLE_LIBRARY, SAMPLE_TENANTS, Settings
from tests._playbooks import metadata
from tests.serve._writes import as_tenant, index, make_settings, snapshot_tree, write_app

PID, VERSION = "acme-aurora-weekend-pause", "1.0.0"
QUERY = "pause aurora rds database clusters over the weekend to save cost"
# Already in acme's bucket before the story starts: the same text (so the same
# similarity and keyword scores) in status needs_update. Only the status orders the two:
# pending_review ranks below needs_update, approved above it.
TWIN = "acme-aurora-weekend-pause-classic"
SCRIPT = b'#!/bin/bash\nset -euo pipefail\naws rds stop-db-cluster --db-cluster-identifier "$1"\n'


def _files(pid: str = PID, **fields: Any) -> dict[str, bytes]:
    meta = metadata(
        pid,
        VERSION,
        tenant="acme",
        name="Pause Aurora clusters for the weekend",
        description="Stop the acme Aurora RDS database clusters on Friday evening and start "
        "them again on Monday morning to save cost",
        keywords=["aurora", "rds", "weekend", "pause", "cost"],
        resource_types=["rds::cluster"],
        **{
            "status": "pending_review",
            "storage_strategy": "uploaded_for_review",
            "execution_count": 0,
            "success_count": 0,
            **fields,
        },
    )
    plan = {
        "explain_plan": {
            "what_it_does": meta["description"],
            "what_happens": [{"step": 1, "action": "Stop each Aurora cluster"}],
        }
    }
    params = {"parameters": [{"name": "cluster_id", "type": "string", "required": True}]}
    return {
        "metadata.json": json.dumps(meta).encode(),
        "parameters.json": json.dumps(params).encode(),
        "explain_plan.json": json.dumps(plan).encode(),
        "shell/pause.sh": SCRIPT,
    }


@pytest.fixture
def s3_settings(
    make_bucket: Callable[[str], str],
    upload_tree: Callable[..., list[str]],
    moto_server: str,
    embedder: Embedder,
    s3: Any,
) -> Settings:
    for bucket in ("escher-library", "escher-tenant-data", "escher-index"):
        make_bucket(bucket)
    upload_tree(SAMPLE_LIBRARY, "escher-library")
    upload_tree(SAMPLE_TENANTS, "escher-tenant-data")
    # Updated now, as publishing stamps the other one: recency does not tell them apart.
    twin = _files(
        TWIN,
        status="needs_update",
        storage_strategy="uploaded_trusted",
        updated_at=int(time.time()),
    )
    for name, data in twin.items():
        s3.put_object(
            Bucket="escher-tenant-data",
            Key=f"tenants/acme/playbooks/{TWIN}/v{VERSION}/{name}",
            Body=data,
        )
    settings = make_settings(
        "s3://escher-index/prod",
        "s3://escher-library",
        "s3://escher-tenant-data",
        endpoint_url=moto_server,
    )
    index(settings, embedder)
    return settings


@pytest.fixture
def client(s3_settings: Settings, embedder: Embedder) -> Iterator[TestClient]:
    with TestClient(write_app(s3_settings, embedder)) as c:
        yield c


def _search(client: TestClient, query: str = QUERY) -> list[dict[str, Any]]:
    # versions "all": every version ranked on its own (no near-duplicate folding), so the
    # twin and the published playbook each have a rank.
    r = client.post(
        "/api/playbook/search",
        json={"query": query, "limit": 20, "versions": "all"},
        headers=as_tenant("acme", ("search",)),
    )
    assert r.status_code == 200, r.text
    results: list[dict[str, Any]] = r.json()["results"]
    return results


def _rank(results: list[dict[str, Any]]) -> int | None:
    return next((r["rank"] for r in results if r["playbook_id"] == PID), None)


def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "timed out"
        time.sleep(0.05)
    return time.monotonic() - started


def test_upload_publish_search_approve_fail_download(
    client: TestClient,
    s3_settings: Settings,
    moto_server: str,
) -> None:
    acme = as_tenant("acme", ("search", "publish"))
    reviewer = as_tenant("acme", ("search", "review"))
    files = _files()

    # 1. Pre-signed PUT URLs, only under the tenant's version prefix.
    r = client.post(
        "/api/playbook/upload/request",
        headers=acme,
        json={"tenant_id": "acme", "playbook_id": PID, "version": VERSION, "files": list(files)},
    )
    assert r.status_code == 200, r.text
    upload = r.json()
    assert upload["expires_in"] == 900 and set(upload["urls"]) == set(files)
    prefix = f"/escher-tenant-data/tenants/acme/playbooks/{PID}/v{VERSION}/"
    assert all(prefix in url for url in upload["urls"].values())

    # 2. PUT each file straight to S3 with its URL.
    with httpx.Client(timeout=10) as http:
        for name, data in files.items():
            put = http.put(upload["urls"][name], content=data)
            assert put.status_code == 200, put.text
    assert _rank(_search(client)) is None

    # 3. Publish; measure publish request -> first search that returns it.
    started = time.monotonic()
    r = client.post(
        "/api/playbook/metadata/publish",
        headers=acme,
        json={"playbook_id": PID, "version": VERSION},
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending_review"
    waited = _until(lambda: _rank(_search(client)) is not None)
    to_searchable = time.monotonic() - started
    print(
        f"\ntime-to-searchable (publish -> in search, moto S3): {to_searchable:.2f} s "
        f"(publish answered, then {waited:.2f} s of polling)"
    )
    pending = _search(client)
    hit = next(x for x in pending if x["playbook_id"] == PID)
    assert hit["status"] == "pending_review" and hit["source"] == "tenant"
    assert any("pending review" in w.lower() for w in hit["warnings"])
    before = {x["playbook_id"]: x["rank"] for x in pending}
    assert before[PID] > before[TWIN]

    # 4. Approve (reviewer): storage strategy becomes uploaded_trusted; rank improves.
    r = client.post(
        f"/api/playbook/metadata/acme/{PID}/{VERSION}/status",
        headers=reviewer,
        json={"status": "approved", "reason": "reviewed the script"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["storage_strategy"] == "uploaded_trusted"
    _until(
        lambda: any(x["playbook_id"] == PID and x["status"] == "approved" for x in _search(client))
    )
    approved = _search(client)
    after = {x["playbook_id"]: x["rank"] for x in approved}
    print(
        f"rank for {QUERY!r}: pending_review #{before[PID]} (twin #{before[TWIN]}) -> "
        f"approved #{after[PID]} (twin #{after[TWIN]})"
    )
    assert after[PID] < after[TWIN] and after[PID] < before[PID]
    hit = next(x for x in approved if x["playbook_id"] == PID)
    assert hit["metadata"]["storage_strategy"] == "uploaded_trusted"

    # 5. Three consecutive failed executions: broken, gone from search.
    for n in range(1, 4):
        r = client.post(
            f"/api/playbook/stats/acme/{PID}/{VERSION}",
            headers=acme,
            json={"success": False, "error": "AccessDenied"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["consecutive_failures"] == n
    assert r.json()["status"] == "broken" and r.json()["marked_broken"]
    assert r.json()["execution_count"] == 3 and r.json()["success_rate"] == 0.0
    _until(lambda: _rank(_search(client)) is None)

    # Who, when, why: every change is in the history.
    r = client.get(f"/api/playbook/metadata/acme/{PID}/{VERSION}/history", headers=acme)
    kinds = [(h["type"], h["payload"].get("status"), h["actor"]) for h in r.json()["history"]]
    assert kinds[0] == ("published", "pending_review", "user@acme")
    assert ("status", "approved", "user@acme") in kinds
    assert kinds[-1] == ("status", "broken", "system")

    # 6. Download the script with a pre-signed GET URL and verify its checksum.
    r = client.get(
        "/api/script/download",
        headers=acme,
        params={"playbook_id": PID, "version": VERSION, "format": "shell"},
    )
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["checksum"] == f"sha256:{hashlib.sha256(SCRIPT).hexdigest()}"
    assert got["size_bytes"] == len(SCRIPT)
    assert 3500 <= got["expires_at"] - time.time() <= 3600
    with httpx.Client(timeout=10) as http:
        body = http.get(got["url"]).content
    assert f"sha256:{hashlib.sha256(body).hexdigest()}" == got["checksum"] and body == SCRIPT

    # A library script too.
    r = client.get(
        "/api/script/download",
        headers=acme,
        params={"playbook_id": "escher-aws-rds-stop", "format": "shell"},
    )
    assert r.status_code == 200, r.text
    lib = r.json()
    assert lib["source"] == "library" and "/escher-library/playbooks/" in lib["url"]
    with httpx.Client(timeout=10) as http:
        data = http.get(lib["url"]).content
    assert f"sha256:{hashlib.sha256(data).hexdigest()}" == lib["checksum"]


def test_events_live_beside_playbooks_and_a_full_reindex_folds_them(
    client: TestClient,
    s3_settings: Settings,
    embedder: Embedder,
    moto_server: str,
) -> None:
    """The event log is in the tenant bucket (not a playbook); a separate indexer job
    (``inprocess_reindex=false`` deployments) folds it the same way."""
    acme = as_tenant("acme")
    r = client.post(
        "/api/playbook/metadata/acme/user-weekend-shutdown/1.2.0/status",
        headers=acme,
        json={"status": "needs_update", "reason": "uses CLI v1"},
    )
    assert r.status_code == 200, r.text
    client.app.state.reindexer.wait_idle(60)  # type: ignore[attr-defined]
    source = open_blobs("s3://escher-tenant-data", moto_server)
    events = snapshot_tree(source, "tenants/acme/events")
    assert len(events) == 1 and next(iter(events)).endswith(".json")
    # A full index from scratch (what a separate nightly job does) folds the same event.
    other = make_settings(
        "s3://escher-index/other",
        "s3://escher-library",
        "s3://escher-tenant-data",
        endpoint_url=moto_server,
    )
    index(other, embedder)
    with TestClient(write_app(other, embedder)) as c2:
        r = c2.post(
            "/api/playbook/search",
            headers=acme,
            json={"query": "weekend shutdown of reporting databases", "limit": 10},
        )
        found = [x for x in r.json()["results"] if x["playbook_id"] == "user-weekend-shutdown"]
        assert found and found[0]["status"] == "needs_update"
