"""The LLM re-rank step wired into the search path, against the scripted loopback provider.

The app runs in-process over the tiny store; the provider is the real HTTP test double of
``tests/serve/llm``, here able to compute its answer from the candidate ids it is sent
(:class:`Reverse`: the cheap order reversed), so a fixed ranking replays end to end.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from indexer import cli_eval
from indexer.embed import Embedder
from indexer.settings import Settings
from serve.app import create_app
from serve.llm import PROMPT_VERSION
from serve.llm.prompts import DATA_CLOSE, DATA_OPEN, INTENT_SYSTEM
from tests.serve._helpers import auth, make_settings
from tests.serve._tiny_store import TinyStore
from tests.serve.llm._fake_provider import (
    OPENAI_PATH,
    Answer,
    Behaviour,
    Fail,
    FakeProvider,
    Seen,
    Slow,
)

SEARCH = "/api/playbook/search"
MODEL = "m"
QUERY = "stop the RDS database instance"
TOP_N = 3
VISIBLE_COLLECTIONS = {"escher_library", "tenant_alpha_playbooks"}
HIDDEN_ID = "escher_library/escher-aws-rds-stop/2.0.0"  # status broken: never searchable
FOREIGN_ID = "tenant_beta_playbooks/team-weekend-shutdown/1.0.0"  # another tenant's
HIDDEN_PLAYBOOKS = {
    "hidden-draft",
    "hidden-ready",
    "hidden-archived",
    "hidden-rejected",
    "alpha-hidden-backup",
    "beta-penguin-secrets",
}


# --- a provider that answers from the ids it was given ---


def candidate_ids(seen: Seen) -> list[str]:
    """The candidate ids of a re-rank prompt, in the cheap order."""
    text = seen.user
    doc = json.loads(text[text.index(DATA_OPEN) + len(DATA_OPEN) : text.index(DATA_CLOSE)])
    return [c["id"] for c in doc["candidates"]]


def ranking(ids: Sequence[str], confidence: float = 0.77) -> str:
    return json.dumps(
        {
            "ranking": [
                {"id": i, "rank": n, "confidence": confidence, "reason": f"Model pick {n}"}
                for n, i in enumerate(ids, 1)
            ]
        }
    )


@dataclass(frozen=True)
class Computed:
    """Answer with ``make(candidate ids)`` as the model's text."""

    make: Callable[[list[str]], str]


def reverse(ids: list[str]) -> str:
    return ranking(ids[::-1])


Reverse = Computed(reverse)


def is_intent_prompt(seen: Seen) -> bool:
    """Whether ``seen`` is the intent pass's (STEP 1) request rather than a re-rank."""
    return seen.system == INTENT_SYSTEM


class ReplayProvider(FakeProvider):
    """The fake provider, plus :class:`Computed` behaviours (also as ``default``).

    Intent prompts are answered by ``intent`` (an empty intent unless set) and kept in
    ``intent_requests``, apart from the re-rank's script, ``requests`` and ``calls()``.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self.intent: Behaviour = Answer("{}")
        self.intent_requests: list[Seen] = []

    def _next(self, seen: Seen) -> Behaviour:
        if is_intent_prompt(seen):
            with self._lock:
                self.intent_requests.append(seen)
                return self.intent
        behaviour: Any = super()._next(seen)
        while isinstance(behaviour, Slow) and isinstance(behaviour.then, Computed):
            behaviour = Slow(behaviour.seconds, Answer(behaviour.then.make(candidate_ids(seen))))
        if isinstance(behaviour, Computed):
            return Answer(behaviour.make(candidate_ids(seen)))
        return behaviour


@pytest.fixture
def fake() -> Iterator[ReplayProvider]:
    server = ReplayProvider(default=Reverse)  # type: ignore[arg-type]
    server.start()
    try:
        yield server
    finally:
        server.stop()


def llm_settings(store: Path, fake: FakeProvider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "llm_provider": "openai",
        "llm_base_url": fake.base_url,
        "llm_model": MODEL,
        "llm_rerank_top_n": TOP_N,
        "llm_timeout_seconds": 0.5,
        "llm_budget_seconds": 0.8,
        "querylog": "false",
        **overrides,
    }
    return make_settings(store, **values)


@pytest.fixture
def llm_client(
    tiny_store: TinyStore, embedder: Embedder, fake: ReplayProvider
) -> Iterator[TestClient]:
    """A fresh app (own cache and circuit breaker) whose LLM pass talks to ``fake``."""
    app = create_app(llm_settings(tiny_store.root, fake), embedder=embedder)
    with TestClient(app) as c:
        yield c


def post(client: TestClient, body: dict[str, Any], tenant: str = "alpha") -> dict[str, Any]:
    response = client.post(SEARCH, json=body, headers=auth(tenant))
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


def key(r: dict[str, Any]) -> tuple[str, str, str]:
    return (r["collection"], r["playbook_id"], r["version"])


def shown(results: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What a caller sees of the order: identity, rank, confidence and reason."""
    return [(*key(r), r["rank"], r["confidence"], r["reason"]) for r in results]


def assert_only_visible(results: list[dict[str, Any]]) -> None:
    for r in results:
        assert r["collection"] in VISIBLE_COLLECTIONS
        assert r["playbook_id"] not in HIDDEN_PLAYBOOKS
        assert r["status"] != "broken"
        assert "/".join(key(r)) not in (HIDDEN_ID, FOREIGN_ID)


BODY = {"query": QUERY, "limit": 5}


# --- the pass applied ---


def test_rerank_applied_reorders_the_top_n_and_says_so(
    llm_client: TestClient, fake: ReplayProvider
) -> None:
    cheap = post(llm_client, BODY)
    assert fake.calls() == 0
    assert cheap["rerank"]["status"] == "skipped" and cheap["rerank"]["detail"] == "not requested"
    assert len(cheap["results"]) > TOP_N  # some results stay out of the candidate set

    got = post(llm_client, {**BODY, "rerank": True})
    report = got["rerank"]
    assert report["status"] == "applied", report
    assert report["model"] == MODEL and report["prompt_version"] == PROMPT_VERSION
    assert report["detail"] is None and report["candidates"] == TOP_N
    assert report["elapsed_ms"] >= 0 and "rerank" in got["timings_ms"]
    assert fake.calls(OPENAI_PATH) == 1
    sent = candidate_ids(fake.requests[0])
    assert sent == ["/".join(key(r)) for r in cheap["results"][:TOP_N]]

    before, after = cheap["results"], got["results"]
    assert [key(r) for r in after[:TOP_N]] == [key(r) for r in before[:TOP_N]][::-1]
    assert shown(after[TOP_N:]) == shown(before[TOP_N:])  # the rest: untouched, in place
    assert [r["rank"] for r in after] == list(range(1, len(after) + 1))
    by_key = {key(r): r for r in before}
    for n, r in enumerate(after[:TOP_N], start=1):
        old = by_key[key(r)]
        assert r["confidence"] == 0.77
        assert r["reason"].startswith(f"Model pick {n}.")
        assert r["reason_deterministic"] == old["reason"] and old["reason"] in r["reason"]
        assert r["confidence_deterministic"] == old["confidence"]
    assert_only_visible(after)

    again = post(llm_client, {**BODY, "rerank": True})  # same question: the cache answers
    assert again["rerank"]["status"] == "cached"
    assert fake.calls() == 1
    assert [key(r) for r in again["results"]] == [key(r) for r in after]

    metrics = llm_client.get("/metrics").text
    for status in ("applied", "cached", "skipped"):
        assert f'playbooks_llm_pass_total{{status="{status}"}} 1' in metrics


# --- every failure falls back to the cheap ranking ---


def with_extra(extra: str) -> Computed:
    return Computed(lambda ids: ranking([extra, *ids[::-1]]))


FAILURES: dict[str, tuple[Any, str, str]] = {
    "not json": (Answer("Sure! Here is the ranking: 1, 2, 3"), "invalid_output", "JSON"),
    "unknown id": (with_extra("escher_library/made-up/1.0.0"), "invalid_output", "candidate"),
    "hidden id": (with_extra(HIDDEN_ID), "invalid_output", "candidate"),
    "foreign id": (with_extra(FOREIGN_ID), "invalid_output", "candidate"),
    "repeated id": (Computed(lambda ids: ranking([ids[0], ids[0]])), "invalid_output", "second"),
    "slow": (Slow(3.0, Reverse), "timeout", ""),  # type: ignore[arg-type]
    "http 500": (Fail(500), "error", "500"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failed_pass_leaves_the_cheap_ranking(
    case: str, llm_client: TestClient, fake: ReplayProvider
) -> None:
    behaviour, status, detail = FAILURES[case]
    fake.default = behaviour
    cheap = post(llm_client, BODY)
    got = post(llm_client, {**BODY, "rerank": True})
    report = got["rerank"]
    assert report["status"] == status, report
    assert detail in (report["detail"] or "")
    assert report["model"] == MODEL and report["prompt_version"] == PROMPT_VERSION
    assert shown(got["results"]) == shown(cheap["results"])
    assert all("reason_deterministic" not in r for r in got["results"])
    assert_only_visible(got["results"])
    assert fake.calls() >= 1
    # bounded: the budget (0.8 s) plus the step's grace, not the slow answer's 3 s
    assert report["elapsed_ms"] < 1500


def test_the_breaker_opens_and_later_requests_skip_without_a_call(
    tiny_store: TinyStore, embedder: Embedder, fake: ReplayProvider
) -> None:
    fake.default = Fail(500)
    settings = llm_settings(tiny_store.root, fake, llm_breaker_failures=1)
    with TestClient(create_app(settings, embedder=embedder)) as client:
        first = post(client, {**BODY, "rerank": True})
        calls = fake.calls()
        second = post(client, {"query": "rightsize EC2", "rerank": True})
    assert first["rerank"]["status"] == "error"
    assert second["rerank"]["status"] == "skipped" and second["rerank"]["detail"] == "circuit open"
    assert fake.calls() == calls


# --- off unless asked, and unless configured ---


def test_rerank_false_makes_no_call(llm_client: TestClient, fake: ReplayProvider) -> None:
    got = post(llm_client, {**BODY, "rerank": False})
    assert got["rerank"] == {
        "status": "skipped",
        "model": MODEL,
        "prompt_version": PROMPT_VERSION,
        "detail": "not requested",
        "elapsed_ms": 0.0,
        "candidates": 0,
    }
    assert fake.calls() == 0 and fake.requests == []


def test_rerank_without_a_provider_is_skipped_not_configured(client: TestClient) -> None:
    assert client.app.state.llm is None  # type: ignore[attr-defined]
    cheap = post(client, BODY)
    got = post(client, {**BODY, "rerank": True})
    assert got["rerank"]["status"] == "skipped"
    assert got["rerank"]["detail"] == "not configured"
    assert got["rerank"]["model"] is None
    assert shown(got["results"]) == shown(cheap["results"])


def test_rerank_must_be_a_boolean(client: TestClient) -> None:
    response = client.post(SEARCH, json={**BODY, "rerank": "yes"}, headers=auth("alpha"))
    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "rerank"


def test_openapi_documents_the_rerank_report(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SearchRequest"]["properties"]["rerank"]["default"] is False
    assert schemas["SearchResponse"]["properties"]["rerank"] == {
        "$ref": "#/components/schemas/Rerank"
    }
    assert "invalid_output" in schemas["Rerank"]["properties"]["status"]["enum"]


# --- the relevance harness with the pass on ---

EVAL_QUERIES = [
    {"id": "q1", "query": "rightsize oversized EC2 instances",
     "relevant": {"escher-aws-ec2-rightsize": 3}},
    {"id": "q2", "query": "stop the RDS database instance",
     "relevant": {"escher-aws-rds-stop": 3}},
    {"id": "q3", "query": "orchid weekend shutdown", "tenant": "alpha",
     "relevant": {"team-weekend-shutdown": 3}},
]  # fmt: skip


def eval_args(queries: Path, store: Path, name: str, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_eval.register(parser.add_subparsers(dest="command"))
    folder = queries.parent
    return parser.parse_args(
        ["eval", str(queries), "--store", str(store), "--metrics", str(folder / f"{name}.json"),
         "--out", str(folder / f"{name}.jsonl"), *extra]
    )  # fmt: skip


def read_run(queries: Path, name: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    folder = queries.parent
    rows = [json.loads(x) for x in (folder / f"{name}.jsonl").read_text().splitlines()]
    return rows, json.loads((folder / f"{name}.json").read_text())


def test_the_harness_runs_with_the_pass_on_end_to_end(
    tiny_store: TinyStore,
    fake: ReplayProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text("".join(json.dumps(q) + "\n" for q in EVAL_QUERIES))
    for name in list(os.environ):
        if name.startswith("PLAYBOOKS_LLM_"):
            monkeypatch.delenv(name)

    assert cli_eval.run(eval_args(queries, tiny_store.root, "plain")) == 0
    assert "llm pass" not in capsys.readouterr().out
    plain, _ = read_run(queries, "plain")
    # --rerank with no provider configured: refused, nothing run
    assert cli_eval.run(eval_args(queries, tiny_store.root, "off", "--rerank")) == 2
    assert "needs an LLM provider" in capsys.readouterr().err
    assert fake.calls() == 0

    monkeypatch.setenv("PLAYBOOKS_LLM_PROVIDER", "openai")
    monkeypatch.setenv("PLAYBOOKS_LLM_BASE_URL", fake.base_url)
    monkeypatch.setenv("PLAYBOOKS_LLM_MODEL", MODEL)
    assert cli_eval.run(eval_args(queries, tiny_store.root, "llm", "--rerank")) == 0
    printed = capsys.readouterr().out
    with capsys.disabled():  # the harness output with the pass on (visible with -s)
        print("\n" + printed)
    reranked, saved = read_run(queries, "llm")
    assert fake.calls(OPENAI_PATH) == len(EVAL_QUERIES)
    assert f"llm pass: applied={len(EVAL_QUERIES)}  model={MODEL}" in printed
    assert saved["overall"]["rerank_statuses"] == {"applied": len(EVAL_QUERIES)}
    assert saved["llm_model"] == MODEL and saved["llm_prompt_version"] == PROMPT_VERSION
    for before, after in zip(plain, reranked, strict=True):
        assert after["rerank"] == "applied"
        assert 1 < len(before["ranked"]) <= 10  # every result was a candidate (top_n 10)
        assert after["ranked"] == before["ranked"][::-1]  # the double's fixed ranking
        (wanted,) = after["relevant"]
        assert before["mrr@10"] == 1.0  # the cheap ranking had it first ...
        # ... and the metrics are computed on the reordered list
        assert after["mrr@10"] == round(1 / (after["ranked"].index(wanted) + 1), 4)
    assert saved["overall"]["mrr@10"] < 1.0
