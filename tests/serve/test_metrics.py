"""``GET /metrics``: Prometheus text format, bounded labels, the series operators alert on."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.settings import Settings
from serve.app import create_app
from serve.metrics import Histogram, Metrics
from tests.serve._helpers import auth, search
from tests.serve._tiny_store import TinyStore

SAMPLE = re.compile(r'^[a-z_:][a-z0-9_:]*(\{([a-z_]+="([^"\\]|\\.)*",?)*\})? -?[0-9.e+Inf-]+$')
SERIES = (
    "playbooks_http_requests_total",
    "playbooks_http_request_duration_seconds",
    "playbooks_search_stage_seconds",
    "playbooks_manifest_info",
    "playbooks_manifest_age_seconds",
    "playbooks_generation_swaps_total",
    "playbooks_generation_load_failures_total",
    "playbooks_llm_pass_total",
    "playbooks_querylog_dropped_total",
    "playbooks_querylog_flushed_records_total",
)


@pytest.fixture
def fresh(settings: Settings, embedder: Embedder) -> Iterator[TestClient]:
    """An app of its own, so the counts start at zero (the query log is off)."""
    values = {**settings.values, "querylog": False}
    with TestClient(create_app(Settings(values), embedder=embedder)) as c:
        yield c


def samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        assert SAMPLE.match(line), line
        key, value = line.rsplit(" ", 1)
        out[key] = float(value)
    return out


def test_metrics_is_prometheus_text_without_auth(fresh: TestClient) -> None:
    response = fresh.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    for name in SERIES:
        assert f"# TYPE {name} " in response.text, name
    samples(response.text)  # every sample line is well formed


def test_requests_are_counted_by_route_template_not_raw_path(fresh: TestClient) -> None:
    search(fresh, "alpha", {"query": "stop rds"})
    fresh.post("/api/playbook/search", json={"query": "x"}, headers={"Authorization": "no"})
    fresh.get("/no/such/path/12345")
    got = samples(fresh.get("/metrics").text)
    route = 'route="/api/playbook/search"'
    assert got[f'playbooks_http_requests_total{{{route},method="POST",status="200"}}'] == 1
    assert got[f'playbooks_http_requests_total{{{route},method="POST",status="401"}}'] == 1
    assert got['playbooks_http_requests_total{route="(unmatched)",method="GET",status="404"}'] == 1
    assert "12345" not in fresh.get("/metrics").text
    assert got[f"playbooks_http_request_duration_seconds_count{{{route}}}"] == 2
    assert got[f'playbooks_http_request_duration_seconds_bucket{{{route},le="+Inf"}}'] == 2


def test_the_served_manifest_and_its_age_are_exported(
    fresh: TestClient, tiny_store: TinyStore
) -> None:
    got = samples(fresh.get("/metrics").text)
    assert got[f'playbooks_manifest_info{{manifest_id="{tiny_store.manifest_id}"}}'] == 1
    assert got["playbooks_manifest_age_seconds"] >= 0
    assert got["playbooks_generation_swaps_total"] == 0  # the start-up load is not a swap


def test_search_stages_are_observed_when_the_response_reports_them(fresh: TestClient) -> None:
    body = search(fresh, "alpha", {"query": "stop rds"})
    got = samples(fresh.get("/metrics").text)
    for stage in body.get("timings_ms") or {}:
        assert got[f'playbooks_search_stage_seconds_count{{stage="{stage}"}}'] == 1


def test_stage_timings_and_llm_outcomes_from_a_response() -> None:
    metrics = Metrics()
    metrics.observe_search(
        {
            "timings_ms": {"embed": 4.0, "vector": 0.5, "bogus": 1, "score": "fast"},
            "rerank": {"status": "timeout", "took_ms": 1500},
        }
    )
    metrics.observe_search({"results": []})  # older responses carry neither key
    got = samples(metrics.render())
    assert got['playbooks_search_stage_seconds_count{stage="embed"}'] == 1
    assert got['playbooks_search_stage_seconds_sum{stage="embed"}'] == 0.004
    assert got['playbooks_search_stage_seconds_count{stage="rerank"}'] == 1
    assert 'stage="bogus"' not in metrics.render()
    assert 'stage="score"' not in metrics.render()
    assert got['playbooks_llm_pass_total{status="timeout"}'] == 1


def test_histogram_buckets_are_cumulative() -> None:
    h = Histogram("t_seconds", "test", (), buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 0.5, 5.0):
        h.observe(value)
    got = samples("\n".join(h.render()))
    assert got['playbooks_t_seconds_bucket{le="0.1"}'] == 1
    assert got['playbooks_t_seconds_bucket{le="1"}'] == 3
    assert got['playbooks_t_seconds_bucket{le="+Inf"}'] == 4
    assert got["playbooks_t_seconds_count"] == 4
    assert got["playbooks_t_seconds_sum"] == pytest.approx(6.05)


def test_label_values_are_escaped() -> None:
    metrics = Metrics()
    metrics.load_failures.inc(reason='a"b\\c\nd')
    line = next(x for x in metrics.render().splitlines() if x.startswith("playbooks_generation_l"))
    assert line == 'playbooks_generation_load_failures_total{reason="a\\"b\\\\c\\nd"} 1'


def test_metrics_needs_no_credentials_but_search_still_does(fresh: TestClient) -> None:
    assert fresh.get("/metrics").status_code == 200
    assert fresh.post("/api/playbook/search", json={"query": "x"}).status_code == 401
    assert fresh.post("/api/playbook/search", json={"query": "x"}, headers=auth("alpha")).json()
