"""The search path end to end (in-process): isolation, visibility, warnings, versions."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.model import STATUS_WARNINGS, tenant_collection
from serve.filters import Filters
from serve.request import SearchRequest
from serve.search import run_search, searched_collections
from tests.serve._helpers import auth, search
from tests.serve._tiny_store import ALPHA_TEXT, BETA_TEXT, HIDDEN_TEXTS, RDS_STOP_OLD_TEXT

OWN = {
    "alpha": "tenant_alpha_playbooks",
    "beta": "tenant_beta_playbooks",
    "gamma": "tenant_gamma_playbooks",
}
OTHER = {"alpha": "beta", "beta": "alpha", "gamma": "alpha"}
TEXT = {"alpha": ALPHA_TEXT, "beta": BETA_TEXT}


def all_results(client: TestClient, tenant: str, query: str, **extra: Any) -> list[Any]:
    body = search(client, tenant, {"query": query, "limit": 50, **extra})
    return list(body["results"])


@pytest.mark.parametrize("tenant", ["alpha", "beta", "gamma"])
def test_a_tenant_never_receives_another_tenants_playbooks(client: TestClient, tenant: str) -> None:
    other = OTHER[tenant]
    allowed = {"escher_library", OWN[tenant]}
    probes: list[dict[str, Any]] = [
        {"query": TEXT[other]},
        {"query": TEXT[other], "filters": {"tags": {"team": other}}},
        {"query": TEXT[other], "filters": {"author": "user_custom"}},
        {"query": "team weekend shutdown", "explain": True},
        {
            "query": "rotate penguin secrets",
            "filters": {"resource_types": ["secretsmanager::secret"]},
        },
        {"query": TEXT[other], "tenant_id": tenant},
    ]
    for probe in probes:
        body = search(client, tenant, {"limit": 50, **probe})
        assert body["tenant"] == tenant
        for r in body["results"]:
            assert r["collection"] in allowed, (probe, r["collection"])
            assert other not in r["reason"]
            assert TEXT[other] not in r["metadata"]["description"]


@pytest.mark.parametrize("tenant", ["alpha", "beta"])
def test_same_playbook_id_resolves_to_the_callers_own_copy(client: TestClient, tenant: str) -> None:
    got = [
        r
        for r in all_results(client, tenant, TEXT[OTHER[tenant]])
        if r["playbook_id"] == "team-weekend-shutdown"
    ]
    assert len(got) == 1
    assert got[0]["collection"] == OWN[tenant]
    assert got[0]["source"] == "tenant"
    assert TEXT[tenant] in got[0]["metadata"]["description"]


@pytest.mark.parametrize("tenant", ["alpha", "beta"])
def test_claiming_another_tenant_in_the_body_is_forbidden(client: TestClient, tenant: str) -> None:
    response = client.post(
        "/api/playbook/search",
        headers=auth(tenant),
        json={"query": TEXT[OTHER[tenant]], "tenant_id": OTHER[tenant]},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "results" not in response.json()


def test_only_the_library_and_own_collection_are_searched() -> None:
    assert searched_collections("alpha") == ("escher_library", tenant_collection("alpha"))


def test_a_tenant_without_a_collection_gets_library_results(client: TestClient) -> None:
    got = all_results(client, "gamma", "stop an RDS database instance")
    assert got and {r["collection"] for r in got} == {"escher_library"}


@pytest.mark.parametrize("status", sorted(HIDDEN_TEXTS))
@pytest.mark.parametrize("tenant", ["alpha", "beta"])
def test_hidden_statuses_are_never_returned(client: TestClient, status: str, tenant: str) -> None:
    got = all_results(client, tenant, HIDDEN_TEXTS[status])
    assert all(r["status"] not in HIDDEN_TEXTS for r in got)
    assert not any(r["playbook_id"].startswith("hidden-") for r in got)
    assert ("escher-aws-rds-stop", "2.0.0") not in {(r["playbook_id"], r["version"]) for r in got}


def test_a_tenants_broken_playbook_is_hidden_from_its_own_tenant(client: TestClient) -> None:
    got = all_results(client, "alpha", "Carve pumpkin lanterns for the harvest festival")
    assert "alpha-hidden-backup" not in {r["playbook_id"] for r in got}


@pytest.mark.parametrize(
    ("query", "playbook_id", "status"),
    [
        (
            "Apply lifecycle rules to Google Cloud Storage buckets",
            "escher-gcp-bucket-lifecycle",
            "needs_update",
        ),
        (
            "Enable default server-side encryption on S3 buckets",
            "escher-aws-s3-encrypt",
            "pending_review",
        ),
        (RDS_STOP_OLD_TEXT, "escher-aws-rds-stop", "deprecated"),
    ],
)
def test_warned_statuses_are_returned_with_their_warning(
    client: TestClient, query: str, playbook_id: str, status: str
) -> None:
    got = [
        r
        for r in all_results(client, "alpha", query, versions="all")
        if r["playbook_id"] == playbook_id and r["status"] == status
    ]
    assert len(got) == 1
    assert STATUS_WARNINGS[status] in got[0]["warnings"]
    # By default an older version is listed under its playbook's best one, warning and all.
    listed = [
        v
        for r in all_results(client, "alpha", query)
        if r["playbook_id"] == playbook_id
        for v in [r, *r["older_versions"]]
        if v["status"] == status
    ]
    assert len(listed) == 1
    assert STATUS_WARNINGS[status] in listed[0]["warnings"]


def test_newest_version_ranks_above_an_older_more_similar_one(client: TestClient) -> None:
    got = all_results(client, "alpha", RDS_STOP_OLD_TEXT, explain=True, versions="all")
    versions = [r["version"] for r in got if r["playbook_id"] == "escher-aws-rds-stop"]
    assert versions == ["1.2.0", "1.0.0"]
    old = next(r for r in got if r["version"] == "1.0.0")
    new = next(r for r in got if r["version"] == "1.2.0")
    # The old text is the query itself: it is more similar, yet ranked below.
    assert old["score_breakdown"]["similarity"] > new["score_breakdown"]["similarity"]
    assert "a newer version 1.2.0 is available" in old["warnings"]
    # The broken 2.0.0 is hidden, so it is not offered as the newer version.
    assert not any("2.0.0" in w for w in new["warnings"])


def test_one_result_per_playbook_with_older_versions_listed_under_it(client: TestClient) -> None:
    got = all_results(client, "alpha", RDS_STOP_OLD_TEXT)
    rds = [r for r in got if r["playbook_id"] == "escher-aws-rds-stop"]
    assert [r["version"] for r in rds] == ["1.2.0"]
    older = rds[0]["older_versions"]
    assert [(v["version"], v["status"]) for v in older] == [("1.0.0", "deprecated")]
    assert "a newer version 1.2.0 is available" in older[0]["warnings"]
    assert len({(r["collection"], r["playbook_id"]) for r in got}) == len(got)


def test_active_results_carry_no_warnings_and_the_step4_shape(client: TestClient) -> None:
    body = search(client, "alpha", {"query": "rightsize oversized EC2 instances", "limit": 3})
    assert set(body) == {
        "query",
        "tenant",
        "manifest_id",
        "results",
        "total_candidates",
        "took_ms",
        "match",
        "intent",
        "retrieval",
        "timings_ms",
        "llm_intent",
        "rerank",
    }
    assert set(body["timings_ms"]) == {"embed", "filter", "vector", "keyword", "score"}
    assert body["retrieval"]["mode"] == "hybrid"
    assert body["retrieval"]["strategy"] == "exact_subset"
    assert body["intent"]["resource_types"] == ["ec2::instance"]
    assert body["query"] == "rightsize oversized EC2 instances"
    top = body["results"][0]
    assert top["playbook_id"] == "escher-aws-ec2-rightsize"
    assert top["warnings"] == []
    assert set(top) == {
        "rank",
        "playbook_id",
        "version",
        "source",
        "collection",
        "status",
        "confidence",
        "score",
        "reason",
        "warnings",
        "metadata",
        "parameters",
        "explain_plan",
        "scripts",
        "older_versions",
        "similar",
    }
    assert [r["rank"] for r in body["results"]] == [1, 2, 3]
    assert 0 <= top["confidence"] <= 1
    assert (
        top["reason"] == "Escher library playbook, 95% success over 80 runs; matches ec2::instance"
    )
    assert top["metadata"]["tags"] == {"category": "cost-optimization", "requires_approval": "true"}
    assert top["parameters"]["parameters"][0]["name"] == "instance_id"
    assert top["scripts"]["shell"]["entry_point"] == "main.sh"
    assert top["scripts"]["shell"]["files"][0]["uri"].endswith(
        "escher-aws-ec2-rightsize/v1.0.0/shell/main.sh"
    )


def test_tenant_reason_and_script_entry_points(client: TestClient) -> None:
    body = search(client, "alpha", {"query": ALPHA_TEXT, "limit": 1})
    # "Aurora" names the rds::cluster type the playbook carries.
    assert (
        body["results"][0]["reason"]
        == "Your team's playbook, 12/12 successful runs; matches rds::cluster"
    )
    rds = search(
        client, "alpha", {"query": "Safely stop an Amazon RDS database instance", "limit": 1}
    )["results"][0]
    assert rds["scripts"]["python"]["entry_point"] == "stop_rds.py"
    assert [f["path"] for f in rds["scripts"]["python"]["files"]] == [
        "python/requirements.txt",
        "python/stop_rds.py",
    ]


def test_explain_adds_the_score_breakdown(client: TestClient) -> None:
    plain = search(client, "alpha", {"query": "stop rds", "limit": 2})
    explained = search(client, "alpha", {"query": "stop rds", "limit": 2, "explain": True})
    assert all("score_breakdown" not in r for r in plain["results"])
    for r in explained["results"]:
        breakdown = r["score_breakdown"]
        assert set(breakdown["factors"]) == {"status", "author", "success", "usage", "recency"}
        assert breakdown["score"] == r["score"]


def test_limit_and_total_candidates(client: TestClient) -> None:
    body = search(client, "alpha", {"query": "cloud automation", "limit": 2})
    assert len(body["results"]) == 2
    # Library: 6 visible rows; alpha: 1 visible row (its broken one is not counted).
    assert body["total_candidates"] == 7
    default = search(client, "alpha", {"query": "cloud automation"})
    assert len(default["results"]) == 5


def test_run_search_directly_is_deterministic(client: TestClient, embedder: Embedder) -> None:
    generation = client.app.state.generation  # type: ignore[attr-defined]
    request = SearchRequest("stop rds weekend", 5, Filters(), True, None)
    first = run_search(generation, embedder, request, "alpha", clock=lambda: 1.8e9)
    second = run_search(generation, embedder, request, "alpha", clock=lambda: 1.8e9)
    strip = [{k: v for k, v in r.items()} for r in first["results"]]
    assert strip == second["results"]


class CountingEmbedder:
    def __init__(self, inner: Embedder) -> None:
        self.inner, self.calls = inner, 0

    def embed_one(self, text: str) -> np.ndarray:
        self.calls += 1
        return self.inner.embed_one(text)


def test_the_query_is_embedded_once(client: TestClient, embedder: Embedder) -> None:
    counting = CountingEmbedder(embedder)
    generation = client.app.state.generation  # type: ignore[attr-defined]
    run_search(generation, counting, SearchRequest("stop rds", 5, Filters(), False, None), "alpha")
    assert counting.calls == 1


@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_concept_words_are_searched_in_every_mode(client: TestClient, mode: str) -> None:
    # "can't connect" adds soft concept words (security group, firewall...) to the keyword
    # channel; vector mode has no keyword channel and must not trip over them.
    body = search(client, "alpha", {"query": "can't connect, times out", "mode": mode})
    assert body["retrieval"]["mode"] == mode
