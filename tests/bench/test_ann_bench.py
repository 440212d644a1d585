"""The ANN benchmark at a toy size: clustered data, a cached index, a complete table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import bench._table
from bench import ann_bench


def test_sizes_parse_like_the_other_benchmarks() -> None:
    assert [ann_bench.parse_size(s) for s in ("200k", "1m", "1M", "50000", "1.5m")] == [
        200_000,
        1_000_000,
        1_000_000,
        50_000,
        1_500_000,
    ]
    with pytest.raises(SystemExit, match="expected a count like 200k"):
        ann_bench.parse_size("lots")
    with pytest.raises(SystemExit, match="at least 1000"):
        ann_bench.parse_size("10")


def test_the_data_is_seeded_unit_vectors_with_neighbourhoods() -> None:
    x = ann_bench.clustered(3000, d=64)
    assert x.dtype == np.float32 and x.shape == (3000, 64)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(x, ann_bench.clustered(3000, d=64))
    assert not np.array_equal(x[:10], ann_bench.clustered(10, d=64, stream=1))
    # Clustered: each vector's nearest other vector is far closer than a random one.
    sims = x[:200] @ x.T
    np.fill_diagonal(sims[:, :200], -1)
    assert np.median(sims.max(axis=1)) > 0.4 > np.median(np.abs(sims))


def test_a_run_reports_every_filter_and_reuses_the_built_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann_bench, "STORES", tmp_path / "stores")
    monkeypatch.setattr(bench._table, "RESULTS", tmp_path / "results")
    first = ann_bench.main(["--size", "3k", "--queries", "8", "--name", "ann-test"])
    assert [f["fraction"] for f in first["filters"]] == list(ann_bench.FRACTIONS)
    assert first["build"]["cached"] is False and (tmp_path / "stores/ann-3000.faiss").exists()
    for f in first["filters"]:
        assert set(ann_bench.METHODS) <= set(f)
        assert f["flat"]["recall"] == 1.0  # the flat scan is exact
        if f["fraction"] <= 0.05:
            assert f["chosen_strategy"] == "exact" and f["chosen"]["recall"] == 1.0
    saved = json.loads((tmp_path / "results/ann-test.json").read_text())
    assert saved["size"] == 3000 and len(saved["filters"]) == len(ann_bench.FRACTIONS)
    text = (tmp_path / "results/ann-test.txt").read_text()
    assert "hnsw recall" in text and "0.1%" in text
    second = ann_bench.main(["--size", "3k", "--queries", "8", "--name", "ann-test"])
    assert second["build"]["cached"] is True
