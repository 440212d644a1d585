"""Relevance on the bundled samples: the tenant scenario set, match quality, explain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from indexer.embed import Embedder
from indexer.settings import load_settings
from serve.evaluate import load_queries, run_eval
from serve.local import LocalSearcher

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "indexer" / "samples"
SCENARIOS = ROOT / "bench" / "relevance" / "tenant_scenarios.jsonl"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Any:
    from indexer.blobs import open_blobs
    from indexer.build import run_index
    from indexer.store import Store

    store = tmp_path_factory.mktemp("samples-store")
    report = run_index(
        store=Store(open_blobs(str(store))),
        library=[open_blobs(str(SAMPLES / "escher-library"))],
        tenants=[open_blobs(str(SAMPLES / "escher-tenant-data"))],
        embedder=embedder,
    )
    assert report.manifest_id
    searcher = LocalSearcher(load_settings({"store": str(store)}, environ={}), embedder)
    yield searcher
    searcher.close()


def test_every_tenant_scenario_ordering_holds(samples: LocalSearcher) -> None:
    run = run_eval(samples.generation, samples.embedder, samples.settings, load_queries(SCENARIOS))
    failed = [(r["id"], c["detail"]) for r in run.rows for c in r.get("checks", []) if not c["ok"]]
    assert failed == []
    assert run.overall["zero_result_rate"] == 0.0


def test_nothing_fits_says_so(samples: LocalSearcher) -> None:
    body = samples.search({"query": "vmotion a vm to another esxi host"})
    assert body["match"]["quality"] == "none" and not body["match"]["confident"]
    good = samples.search({"query": "detach EBS volume from instance"})
    assert good["match"]["quality"] == "good" and good["match"]["confident"]


def test_explain_intent_retrieval_and_reasons(samples: LocalSearcher) -> None:
    body = samples.search(
        {"query": "turn off RDS deletion protection", "explain": True}, tenant="acme"
    )
    assert body["intent"]["action"] == "disable"
    assert body["intent"]["cloud_provider"] == ["aws"]
    assert body["retrieval"]["mode"] == "hybrid"
    assert body["retrieval"]["candidates_considered"] >= len(body["results"])
    top = body["results"][0]
    assert top["playbook_id"] == "escher-aws-rds-disable-deletion-protection"
    breakdown = top["score_breakdown"]
    assert {"similarity", "keyword", "relevance", "intent", "factors"} <= set(breakdown)
    parts = (
        breakdown["relevance"]
        + sum(breakdown["intent"].values())
        + sum(f["contribution"] for f in breakdown["factors"].values())
    )
    assert parts == pytest.approx(breakdown["score"], abs=1e-3)
    assert "matches rds::instance" in top["reason"]
    enable = next(
        r
        for r in samples.search(
            {"query": "turn off RDS deletion protection", "explain": True, "limit": 10}
        )["results"]
        if r["playbook_id"] == "escher-aws-rds-enable-deletion-protection"
    )
    assert enable["score_breakdown"]["intent"]["opposite_action"] < 0


def test_a_filter_leaving_few_rows_searches_exactly_over_them(samples: LocalSearcher) -> None:
    body = samples.search(
        {"query": "failover", "filters": {"cloud_provider": "azure"}, "limit": 10}
    )
    assert body["retrieval"]["strategy"] == "exact_subset"
    assert body["retrieval"]["filter_rows"] == body["retrieval"]["candidates_considered"]
    assert body["results"] and all(
        "azure" in r["metadata"]["cloud_provider"] for r in body["results"]
    )


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_modes_are_selectable(samples: LocalSearcher, mode: str) -> None:
    body = samples.search({"query": "detach EBS volume", "mode": mode})
    assert body["retrieval"]["mode"] == mode
    assert body["results"][0]["playbook_id"] == "escher-aws-ebs-detach-volume"
