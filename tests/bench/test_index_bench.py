"""The indexing benchmark at a toy size: both runs per round, wall and CPU, a full table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bench._table
from bench import index_bench


def test_cpu_seconds_grow_with_work() -> None:
    before = index_bench.cpu_seconds()
    sum(i * i for i in range(200_000))
    assert index_bench.cpu_seconds() >= before


def test_a_run_compares_the_pipeline_with_the_model_on_the_same_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(index_bench, "WORK", tmp_path / "work")
    monkeypatch.setattr(bench._table, "RESULTS", tmp_path / "results")
    out = index_bench.main(
        ["--library", "6", "--tenants", "2", "--per-tenant", "3", "--rounds", "2"]
    )
    assert out["playbooks"] == 12 and out["embedded"] == 12
    assert 0 < out["model_texts_in_pipeline"] <= out["embedded"]
    for key in (
        "pipeline_seconds",
        "pipeline_cpu_seconds",
        "pipeline_embed_seconds",
        "pipeline_embed_cpu_seconds",
        "model_seconds",
        "model_cpu_seconds",
    ):
        assert len(out[key]) == 2 and all(v >= 0 for v in out[key]), key
    # Embedding is part of the run: never more than the whole of it.
    assert all(
        e <= w for e, w in zip(out["pipeline_embed_seconds"], out["pipeline_seconds"], strict=True)
    )
    saved = json.loads((tmp_path / "results/index.json").read_text())
    assert saved["overhead_ratio"] == out["overhead_ratio"]
    text = (tmp_path / "results/index.txt").read_text()
    for label in ("model alone (Embedder.embed)", "full run_index", "of which embed", "cpu-s"):
        assert label in text
    assert not (tmp_path / "work").exists()  # sources and stores are cleaned up
