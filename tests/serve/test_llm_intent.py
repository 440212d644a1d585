"""The LLM intent pass (spec STEP 1) in the search path, against the loopback provider.

With ``"rerank": true`` the model's intent is asked for first, with a share of the LLM
budget, and merged into the rule-based intent before the cheap ranking: explicit filters
and the rules win, the model only fills gaps, softly. Any failure leaves the rules alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from indexer.embed import Embedder
from serve.app import create_app
from serve.llm import PROMPT_VERSION
from tests.serve._tiny_store import TinyStore
from tests.serve.llm._fake_provider import Answer, Slow
from tests.serve.test_rerank_step import (
    MODEL,
    ReplayProvider,
    Reverse,
    assert_only_visible,
    key,
    llm_settings,
    post,
    shown,
)

QUERY = "orchid weekend shutdown"  # the rules find no resource type here
BODY = {"query": QUERY, "limit": 5, "rerank": True}
LLM_INTENT = {
    "action": "stop",
    "cloud_provider": "aws",
    "resource_types": ["rds::instance"],
    "filters": {},
    "use_case": "cost_optimization",
    "time_based": True,
    "keywords": ["database"],
}


@pytest.fixture
def fake() -> Iterator[ReplayProvider]:
    server = ReplayProvider(default=Reverse)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def llm_client(
    tiny_store: TinyStore, embedder: Embedder, fake: ReplayProvider
) -> Iterator[TestClient]:
    app = create_app(llm_settings(tiny_store.root, fake), embedder=embedder)
    with TestClient(app) as c:
        yield c


def test_a_valid_intent_fills_what_the_rules_missed(
    llm_client: TestClient, fake: ReplayProvider
) -> None:
    rules_only = post(llm_client, {**BODY, "rerank": False})
    assert rules_only["intent"]["resource_types"] == [] and rules_only["intent"]["llm_fields"] == []
    assert rules_only["llm_intent"]["status"] == "skipped"
    assert rules_only["llm_intent"]["detail"] == "not requested"

    fake.intent = Answer(json.dumps(LLM_INTENT))
    got = post(llm_client, BODY)
    report = got["llm_intent"]
    assert report["status"] == "applied", report
    assert report["model"] == MODEL and report["prompt_version"] == PROMPT_VERSION
    assert report["detail"] is None and report["elapsed_ms"] >= 0
    assert len(fake.intent_requests) == 1 and QUERY in fake.intent_requests[0].user
    intent = got["intent"]
    assert intent["resource_types"] == ["rds::instance"]
    assert "resource_types" in intent["llm_fields"]
    assert "database" in intent["expansions"] and "keywords" in intent["llm_fields"]
    # soft only: the model's provider / types never filter rows
    assert got["total_candidates"] == rules_only["total_candidates"]
    assert got["rerank"]["status"] == "applied"  # the re-rank still ran, after the intent
    assert_only_visible(got["results"])


def test_invalid_intent_json_leaves_the_rules_only_results(
    llm_client: TestClient, fake: ReplayProvider
) -> None:
    fake.intent = Answer("Sure! The intent is: stop things")
    got = post(llm_client, BODY)
    assert got["llm_intent"]["status"] == "invalid_output"
    assert "JSON" in (got["llm_intent"]["detail"] or "")

    fake.intent = Answer("{}")  # an empty intent: nothing to merge (failures are not cached)
    baseline = post(llm_client, BODY)
    assert baseline["llm_intent"]["status"] == "applied"
    assert baseline["intent"]["llm_fields"] == []
    assert got["intent"] == baseline["intent"]
    assert shown(got["results"]) == shown(baseline["results"])


def test_a_slow_intent_times_out_and_the_search_still_answers(
    llm_client: TestClient, fake: ReplayProvider
) -> None:
    fake.intent = Slow(3.0, Answer(json.dumps(LLM_INTENT)))
    started = time.perf_counter()
    got = post(llm_client, BODY)
    took = time.perf_counter() - started
    assert took < 3.0  # the budget (0.8 s) plus margins, not the slow answer's 3 s
    report = got["llm_intent"]
    assert report["status"] == "timeout", report
    assert got["intent"]["llm_fields"] == [] and got["intent"]["resource_types"] == []
    assert got["results"]
    rerank = got["rerank"]
    assert rerank["status"] in ("applied", "skipped"), rerank
    if rerank["status"] == "skipped":
        assert rerank["detail"]


def test_explicit_filters_are_never_overridden(
    llm_client: TestClient, fake: ReplayProvider
) -> None:
    filters = {"cloud_provider": ["azure"], "resource_types": ["compute::virtual-machine"]}
    body = {"query": "stop the virtual machine", "limit": 5, "filters": filters}
    rules_only = post(llm_client, body)
    fake.intent = Answer(json.dumps(LLM_INTENT))  # aws / rds::instance: both contradict
    got = post(llm_client, {**body, "rerank": True})
    assert got["llm_intent"]["status"] == "applied"
    intent = got["intent"]
    assert "cloud_provider" not in intent["llm_fields"]
    assert "resource_types" not in intent["llm_fields"]
    assert "aws" not in intent["cloud_provider"]
    assert "rds::instance" not in intent["resource_types"]
    assert got["total_candidates"] == rules_only["total_candidates"]
    assert {key(r) for r in got["results"]} == {key(r) for r in rules_only["results"]}
    for r in got["results"]:
        assert "rds::instance" not in (r.get("metadata") or {}).get("resource_types", [])
