"""Soak: a real uvicorn server answers concurrent searches while manifests are committed.

Four client threads search for at least 30 s while the test commits six good manifests
(the real indexer, each changing a library playbook) and one corrupt one (its library
index checksum does not match). Asserted: no failed or malformed response, every response
names a manifest that was CURRENT and loadable, the corrupt one is never served, the
server ends on the last good one, and the query log holds one record per search. The
latency numbers (overall, within 1 s of a commit, elsewhere) are printed and saved to
``bench/results/soak.json``; no wall-clock time is asserted.
"""

from __future__ import annotations

import json
import platform
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from indexer.analytics import QUERY_LOG_PREFIX
from indexer.blobs import open_blobs
from indexer.build import run_index
from indexer.embed import Embedder
from indexer.store import Store
from tests._playbooks import write_playbook
from tests.serve._manifests import commit_bad_checksum
from tests.serve._server import REPO, server_process
from tests.serve._tiny_store import KEYS

pytestmark = pytest.mark.slow

CLIENTS = 4
MIN_SECONDS = 30.0
GAP_SECONDS = 4.0  # between commits
WINDOW_SECONDS = 1.0  # a request within this of a commit counts as "during a swap"
MAX_REQUESTS_PER_CLIENT = 200_000  # a bound on each loop, never reached in practice
RESULTS = REPO / "bench" / "results" / "soak.json"
QUERIES = (
    "stop the rds database for the weekend",
    "rightsize oversized ec2 instances",
    "deallocate idle azure virtual machines",
    "encrypt s3 buckets",
    "nightly shutdown of dev clusters",
)


@dataclass
class Sample:
    started: float
    seconds: float
    manifest_id: str | None
    error: str | None = None


@dataclass
class Client:
    url: str
    tenant: str
    stop: threading.Event
    samples: list[Sample] = field(default_factory=list)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {KEYS[self.tenant]}"}
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for n in range(MAX_REQUESTS_PER_CLIENT):
                if self.stop.is_set():
                    return
                body = {"query": QUERIES[n % len(QUERIES)], "limit": 5}
                t0 = time.monotonic()
                try:
                    r = http.post("/api/playbook/search", json=body, headers=headers)
                    elapsed = time.monotonic() - t0
                    self.samples.append(_check(r, t0, elapsed))
                except httpx.HTTPError as exc:
                    self.samples.append(Sample(t0, time.monotonic() - t0, None, repr(exc)))


def _check(r: httpx.Response, t0: float, elapsed: float) -> Sample:
    if r.status_code != 200:
        return Sample(t0, elapsed, None, f"HTTP {r.status_code}: {r.text[:200]}")
    try:
        body = r.json()
    except ValueError:
        return Sample(t0, elapsed, None, f"not JSON: {r.text[:200]}")
    mid = body.get("manifest_id") if isinstance(body, dict) else None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(mid, str) or not isinstance(results, list):
        return Sample(t0, elapsed, None, f"malformed: {r.text[:200]}")
    if not all(isinstance(x, dict) and x.get("playbook_id") for x in results):
        return Sample(t0, elapsed, mid, f"malformed result: {r.text[:200]}")
    return Sample(t0, elapsed, mid)


def _write_sources(root: Path, revision: int) -> tuple[Path, Path]:
    library, tenants = root / "library", root / "tenants"
    write_playbook(
        library,
        "escher-aws-rds-stop",
        "1.2.0",
        name="Stop RDS instance safely",
        description=f"Safely stop an Amazon RDS database instance (revision {revision})",
        resource_types=["rds::instance"],
    )
    write_playbook(
        library,
        "escher-aws-ec2-rightsize",
        name="Rightsize EC2 instances",
        description="Find oversized EC2 instances and move them to a smaller type",
    )
    write_playbook(
        library,
        "escher-azure-vm-deallocate",
        name="Deallocate idle Azure VMs",
        description="Deallocate idle Azure virtual machines overnight",
        cloud_provider=["azure"],
        resource_types=["compute::virtual-machine"],
    )
    for tenant in ("alpha", "beta"):
        write_playbook(
            tenants,
            f"{tenant}-weekend-shutdown",
            tenant=tenant,
            name=f"{tenant.title()} weekend shutdown",
            description=f"Stop the {tenant} reporting databases every weekend",
            resource_types=["rds::instance"],
        )
    return library, tenants


def _index(store: Store, root: Path, revision: int, embedder: Embedder) -> str:
    library, tenants = _write_sources(root, revision)
    report = run_index(
        store=store,
        library=[open_blobs(str(library))],
        tenants=[open_blobs(str(tenants))],
        embedder=embedder,
    )
    assert report.manifest_id and report.manifest_id == store.current().manifest_id, report
    return report.manifest_id


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _summary(latencies: list[float]) -> dict[str, Any]:
    ms = [x * 1000 for x in latencies]
    p50, p99 = _percentile(ms, 50), _percentile(ms, 99)
    return {
        "requests": len(ms),
        "p50_ms": None if p50 is None else round(p50, 2),
        "p99_ms": None if p99 is None else round(p99, 2),
    }


def test_soak_hot_swaps_under_load(tmp_path: Path, embedder: Embedder) -> None:
    store_dir, sources = tmp_path / "store", tmp_path / "sources"
    store = Store(open_blobs(str(store_dir)))
    good = [_index(store, sources, 0, embedder)]
    env = {"PLAYBOOKS_POLL_SECONDS": "0.2", "PLAYBOOKS_QUERYLOG_FLUSH_SECONDS": "1"}
    commits: list[tuple[float, str, str]] = []  # (monotonic time, manifest id, kind)
    with server_process(store_dir, tmp_path / "server.log", env) as server:
        stop = threading.Event()
        clients = [Client(server.url, ("alpha", "beta")[i % 2], stop) for i in range(CLIENTS)]
        threads = [threading.Thread(target=c.run, name=f"soak-{i}") for i, c in enumerate(clients)]
        started = time.monotonic()
        for t in threads:
            t.start()
        try:
            time.sleep(GAP_SECONDS)
            for revision in range(1, 7):
                if revision == 4:
                    corrupt = commit_bad_checksum(store)
                    commits.append((time.monotonic(), corrupt, "corrupt"))
                    time.sleep(GAP_SECONDS)
                good.append(_index(store, sources, revision, embedder))
                commits.append((time.monotonic(), good[-1], "good"))
                time.sleep(GAP_SECONDS)
            time.sleep(max(0.0, MIN_SECONDS - (time.monotonic() - started)))
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        duration = time.monotonic() - started
        ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
        metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    samples = [s for c in clients for s in c.samples]
    failures = [s.error for s in samples if s.error]
    served = {s.manifest_id for s in samples}
    commit_times = [t for t, _mid, _kind in commits]
    near: list[Sample] = []
    far: list[Sample] = []
    for s in samples:
        close = any(abs(s.started - t) <= WINDOW_SECONDS for t in commit_times)
        (near if close else far).append(s)
    report: dict[str, Any] = {
        "clients": CLIENTS,
        "duration_seconds": round(duration, 1),
        "requests_served": len(samples),
        "failed_or_malformed": len(failures),
        "manifests_committed": len(good) - 1,
        "corrupt_manifests_committed": 1,
        "manifests_served": len(served),
        "overall": _summary([s.seconds for s in samples]),
        "during_swaps": _summary([s.seconds for s in near]),
        "outside_swaps": _summary([s.seconds for s in far]),
        "window_seconds": WINDOW_SECONDS,
        "poll_seconds": 0.2,
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print("\nsoak:", json.dumps(report, indent=2))
    print(f"{'':14}{'requests':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name in ("overall", "during_swaps", "outside_swaps"):
        row = report[name]
        print(f"{name:14}{row['requests']:>10}{row['p50_ms']!s:>10}{row['p99_ms']!s:>10}")

    assert duration >= MIN_SECONDS
    assert len(good) - 1 >= 5
    assert failures == [], failures[:5]
    assert served <= set(good), served - set(good)
    assert corrupt not in served
    assert ready["manifest_id"] == good[-1]
    assert "failed_manifest_id" not in ready
    assert 'playbooks_generation_load_failures_total{reason="checksum_mismatch"} 1' in metrics
    assert len(near) > 0 and len(far) > 0
    events = [(line.get("event"), line.get("manifest_id")) for line in server.log_lines()]
    assert ("generation_load_failed", corrupt) in events
    assert ("generation_swap", good[-1]) in events
    # Every search was logged (the graceful shutdown flushed the rest).
    logged = sum(
        pq.read_metadata(p).num_rows
        for p in (store_dir / QUERY_LOG_PREFIX).glob("date=*/*.parquet")
    )
    assert logged == len(samples)
