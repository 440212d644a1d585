"""The evaluation harness: metrics on a hand-computed example, files it writes, the CLI."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pytest

from indexer import cli_eval
from serve.evaluate import (
    EvalRun,
    check_expectations,
    mrr_at,
    ndcg_at,
    recall_at,
    save_metrics,
    summarise,
    write_results,
)
from tests.serve._tiny_store import TinyStore

RELEVANT = {"a": 3, "b": 2, "c": 1}


def test_metrics_on_a_hand_computed_example() -> None:
    ranked = ["x", "b", "a", "y"]
    # DCG = 2/log2(3) + 3/log2(4); ideal = 3 + 2/log2(3) + 1/log2(4)
    dcg = 2 / math.log2(3) + 3 / 2
    ideal = 3 + 2 / math.log2(3) + 0.5
    assert ndcg_at(ranked, RELEVANT) == pytest.approx(dcg / ideal)
    assert recall_at(ranked, RELEVANT) == pytest.approx(2 / 3)
    assert mrr_at(ranked, RELEVANT) == 0.5
    assert ndcg_at(["a", "b", "c"], RELEVANT) == pytest.approx(1.0)
    assert ndcg_at(["x"], {}) == 0.0 and recall_at([], RELEVANT) == 0.0
    assert mrr_at(["x"] * 10 + ["a"], RELEVANT) == 0.0  # beyond rank 10


def test_summary_rates() -> None:
    rows = [
        {
            "relevant": {"a": 3},
            "ranked": ["a"],
            "match": "good",
            "confident": True,
            "ndcg@10": 1.0,
            "recall@10": 1.0,
            "mrr@10": 1.0,
            "took_ms": 2.0,
        },
        {
            "relevant": {"a": 3},
            "ranked": [],
            "match": "none",
            "confident": False,
            "ndcg@10": 0.0,
            "recall@10": 0.0,
            "mrr@10": 0.0,
            "took_ms": 4.0,
        },
        {
            "relevant": {},
            "ranked": ["z"],
            "match": "none",
            "confident": False,
            "ndcg@10": 0.0,
            "recall@10": 0.0,
            "mrr@10": 0.0,
            "took_ms": 3.0,
        },
    ]
    s = summarise(rows)
    assert s["ndcg@10"] == 0.5 and s["answerable"] == 2
    assert s["zero_result_rate"] == 0.5
    assert s["no_match_hit_rate"] == 1.0
    assert s["no_match_false_fire_rate"] == 0.5


def test_expectations() -> None:
    response = {
        "results": [
            {
                "playbook_id": "p",
                "version": "1.2.0",
                "source": "tenant",
                "collection": "t",
                "older_versions": [{"version": "1.0.0"}],
                "similar": [],
            },
            {
                "playbook_id": "q",
                "version": "1.0.0",
                "source": "escher_library",
                "collection": "escher_library",
                "older_versions": [],
                "similar": [],
            },
        ]
    }
    checks = check_expectations(
        {
            "first": "p",
            "first_version": "1.2.0",
            "older_versions_of_first": ["1.0.0"],
            "absent": ["z"],
            "before": [["p", "q"]],
            "absent_collections": ["other"],
        },
        response,
        ["p", "q"],
    )
    assert all(c["ok"] for c in checks) and len(checks) == 6
    bad = check_expectations({"first": "q", "before": [["q", "p"]]}, response, ["p", "q"])
    assert [c["ok"] for c in bad] == [False, False]


def test_results_and_metrics_files(tmp_path: Path) -> None:
    rows = [
        {
            "id": "q1",
            "query": "x",
            "relevant": {"a": 1},
            "ranked": ["a"],
            "match": "good",
            "confident": True,
            "ndcg@10": 1.0,
            "recall@10": 1.0,
            "mrr@10": 1.0,
            "took_ms": 1.0,
        }
    ]
    run = EvalRun(rows, summarise(rows), {})
    write_results(run, tmp_path / "r.jsonl")
    assert json.loads((tmp_path / "r.jsonl").read_text())["ranked"] == ["a"]
    assert save_metrics(run, tmp_path / "m.json", {"mode": "hybrid"}) is None
    previous = save_metrics(run, tmp_path / "m.json", {"mode": "hybrid"})
    assert previous is not None and previous["overall"]["ndcg@10"] == 1.0
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["previous_overall"]["ndcg@10"] == 1.0
    assert saved["per_query"][0]["id"] == "q1"


def test_the_cli_runs_the_server_search_path(
    tiny_store: TinyStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps(
            {
                "id": "q1",
                "query": "rightsize oversized EC2 instances",
                "filters": {},
                "relevant": {"escher-aws-ec2-rightsize": 3},
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "q2",
                "query": "alpha weekend",
                "tenant": "alpha",
                "relevant": {"team-weekend-shutdown": 3},
            }
        )
        + "\n"
    )
    parser = argparse.ArgumentParser()
    cli_eval.register(parser.add_subparsers(dest="command"))
    out, metrics = tmp_path / "results.jsonl", tmp_path / "metrics.json"
    for mode in ("vector", "keyword", "hybrid"):
        args = parser.parse_args(
            [
                "eval",
                str(queries),
                "--store",
                str(tiny_store.root),
                "--out",
                str(out),
                "--metrics",
                str(metrics),
                "--mode",
                mode,
            ]
        )
        assert cli_eval.run(args) == 0
    printed = capsys.readouterr().out
    assert "NDCG@10" in printed and "previous run" in printed
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["id"] for x in lines] == ["q1", "q2"]
    assert lines[0]["ranked"][0] == "escher-aws-ec2-rightsize"
    assert len(lines[0]["ranked"]) <= 10
    assert lines[1]["ranked"][0] == "team-weekend-shutdown"  # searched as tenant alpha
    assert json.loads(metrics.read_text())["mode"] == "hybrid"
