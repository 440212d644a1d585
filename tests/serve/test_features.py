"""Ranking features: the features file written at index time gives exactly what the
server would compute from the table, and the server falls back to computing them."""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from indexer.blobs import LocalBlobs, open_blobs
from indexer.crawl import CrawlResult, crawl_library, crawl_tenants
from indexer.rows import playbook_row, rows_table
from indexer.store import FEATURES_FILE, Store
from indexer.validate import validate_folder
from serve import features as features_module
from serve.features import (
    CollectionFeatures,
    collection_features,
    features_file_bytes,
    fingerprint,
    normalise_name,
    table_vectors,
)
from serve.features_file import FeaturesFileError, decode
from serve.intent import name_verbs
from serve.keyword import KeywordIndex, document_fields

SAMPLES = Path(__file__).resolve().parents[2] / "indexer" / "samples"
REAL = Path("/work/shared/corpus/real-runbooks/escher-library")
DIMENSION = 8


def tables(root: Path, tenants: bool) -> dict[str, pa.Table]:
    """One table per collection of the playbook folders under ``root`` (random vectors)."""
    result = CrawlResult()
    if tenants:
        crawl_tenants(LocalBlobs(root), result)
    else:
        crawl_library(LocalBlobs(root), result)
    out = {}
    rng = np.random.default_rng(3)
    for collection, folders in sorted(result.folders.items()):
        rows = []
        for folder in folders:
            valid = validate_folder(folder)
            if not isinstance(valid, list):
                rows.append(playbook_row(valid))
        vectors = rng.standard_normal((len(rows), DIMENSION)).astype(np.float32)
        out[collection] = rows_table(rows, vectors, DIMENSION)
    return out


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pa.Table]:
    found = {
        **tables(SAMPLES / "escher-library", tenants=False),
        **tables(SAMPLES / "escher-tenant-data", tenants=True),
    }
    assert len(found) >= 2 and all(t.num_rows for t in found.values())
    return found


@pytest.fixture(scope="module")
def real_table() -> pa.Table:
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is absent")
    (table,) = tables(REAL, tenants=False).values()
    assert table.num_rows > 500
    return table


def both(table: pa.Table) -> tuple[CollectionFeatures, CollectionFeatures]:
    vectors = table_vectors(table)
    computed = collection_features(table, vectors)
    loaded = collection_features(table, vectors, features_file_bytes(table))
    assert (computed.from_file, loaded.from_file) == (False, True)
    return computed, loaded


def queries(index: KeywordIndex, n: int, seed: int) -> list[list[str]]:
    """Random term lists from the vocabulary, some with a term no row has."""
    rng = random.Random(seed)
    vocab = sorted(index.vocabulary)
    out = [rng.sample(vocab, rng.randint(1, min(6, len(vocab)))) for _ in range(n)]
    return [[*q, "zzznotaterm"] if i % 5 == 0 else q for i, q in enumerate(out)]


def assert_identical(a: CollectionFeatures, b: CollectionFeatures, seed: int = 1) -> None:
    assert a.rows == b.rows
    assert a.names == b.names
    assert a.normalised_names == b.normalised_names
    assert np.array_equal(a.name_codes, b.name_codes)
    assert (a.providers, a.resource_types, a.verbs) == (b.providers, b.resource_types, b.verbs)
    assert a.vocabulary == b.vocabulary
    for x, y in (
        (a.verb_rows, b.verb_rows),
        (a.provider_rows, b.provider_rows),
        (a.resource_type_rows, b.resource_type_rows),
    ):
        assert list(x) == list(y)
        assert all(np.array_equal(x[k], y[k]) for k in x)
    ka, kb = a.keyword, b.keyword
    assert (ka.rows, ka.df, ka.vocabulary, ka.surface) == (
        kb.rows,
        kb.df,
        kb.vocabulary,
        kb.surface,
    )
    assert list(ka.doc_terms) == list(kb.doc_terms)
    rng = np.random.default_rng(seed)
    for terms in queries(ka, 200, seed):
        scores = ka.search(terms)
        assert scores.dtype == np.float32
        assert np.array_equal(scores, kb.search(terms))  # bit for bit
        rows = rng.choice(ka.rows, size=min(ka.rows, 40), replace=False)
        assert np.array_equal(ka.coverage_many(rows, terms), kb.coverage_many(rows, terms))
    for word in ("gaurdduty", "snapshto", "instanse", "databse"):
        assert ka.query_terms(word) == kb.query_terms(word)


def test_features_file_equals_computing_on_the_sample_playbooks(
    sample_tables: dict[str, pa.Table],
) -> None:
    for table in sample_tables.values():
        computed, loaded = both(table)
        assert_identical(computed, loaded)


def test_features_file_equals_computing_on_the_real_runbooks(real_table: pa.Table) -> None:
    computed, loaded = both(real_table)
    assert computed.keyword.rows == real_table.num_rows
    assert_identical(computed, loaded, seed=2)


def test_features_hold_what_each_row_says(real_table: pa.Table) -> None:
    """Per-row values against the primitives they come from (not just file == computed)."""
    _, f = both(real_table)
    rows = real_table.to_pylist()
    assert f.providers == tuple(frozenset(r["cloud_provider"] or []) for r in rows)
    assert f.resource_types == tuple(frozenset(r["resource_types"] or []) for r in rows)
    assert f.verbs == tuple(name_verbs(r["name"], r["playbook_id"]) for r in rows)
    assert f.names == tuple(r["name"].lower() for r in rows)
    assert f.normalised_names == tuple(normalise_name(r["name"]) for r in rows)
    assert f.vocabulary == frozenset(t for r in rows for t in r["resource_types"] or [])
    assert any(f.verbs) and len(set(f.normalised_names)) > 100
    # the label maps are the per-row sets, inverted, as ascending int32 row ids
    for by_label, per_row in (
        (f.verb_rows, f.verbs),
        (f.provider_rows, f.providers),
        (f.resource_type_rows, f.resource_types),
    ):
        assert set(by_label) == set().union(*per_row)
        for label, ids in by_label.items():
            assert ids.dtype == np.int32 and np.all(np.diff(ids) > 0)
            assert ids.tolist() == [i for i, held in enumerate(per_row) if label in held]
    # equal codes exactly where the normalised names are equal
    codes = f.name_codes.tolist()
    assert f.name_codes.dtype == np.int32
    by_name: dict[str, int] = {}
    for code, name in zip(codes, f.normalised_names, strict=True):
        assert by_name.setdefault(name, code) == code
    assert len(set(codes)) == len(by_name)
    # BM25 document terms are the row's own tokens
    expected = KeywordIndex([document_fields(rows[7])])
    assert f.keyword.doc_terms[7] == expected.doc_terms[0]


def test_coverage_many_equals_coverage_row_by_row(real_table: pa.Table) -> None:
    _, f = both(real_table)
    kw = f.keyword
    rows = np.arange(kw.rows)
    for terms in [*queries(kw, 30, 5), [], ["zzznotaterm"], ["stop", "stop", "rds"]]:
        expected = [kw.coverage(int(r), terms) for r in rows]
        assert kw.coverage_many(rows, terms).tolist() == expected
    assert kw.coverage_many(np.array([], dtype=np.int64), ["stop"]).shape == (0,)


def test_a_file_of_other_feature_code_is_not_used(
    sample_tables: dict[str, pa.Table],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    table = next(iter(sample_tables.values()))
    data = features_file_bytes(table)
    # a server whose tokenisation differs (another fingerprint) computes instead
    monkeypatch.setattr(features_module, "fingerprint", lambda: "v999-other")
    with caplog.at_level(logging.INFO, logger="serve.features"):
        f = collection_features(table, table_vectors(table), data, where="lib/s-1")
    assert not f.from_file
    assert "lib/s-1: features file not used (written for features" in caplog.text
    assert "this server computes 'v999-other'" in caplog.text
    monkeypatch.undo()
    assert_identical(f, both(table)[1])


def test_no_file_or_an_unusable_one_computes_with_a_log_line(
    sample_tables: dict[str, pa.Table], caplog: pytest.LogCaptureFixture
) -> None:
    table = next(iter(sample_tables.values()))
    vectors = table_vectors(table)
    with caplog.at_level(logging.INFO, logger="serve.features"):
        assert not collection_features(table, vectors, where="lib/s-2").from_file
        assert not collection_features(table, vectors, b"not a zip", where="lib/s-3").from_file
        other = features_file_bytes(table.slice(0, table.num_rows - 1))
        assert not collection_features(table, vectors, other, where="lib/s-4").from_file
    assert "lib/s-2: no features file; computing the features from the table" in caplog.text
    assert "lib/s-3: features file not used (not a features file" in caplog.text
    assert f"made for {table.num_rows - 1} rows, the table has {table.num_rows}" in caplog.text


def test_decode_names_what_is_wrong(sample_tables: dict[str, pa.Table]) -> None:
    table = next(iter(sample_tables.values()))
    data = features_file_bytes(table)
    assert decode(data, fingerprint(), table.num_rows).rows == table.num_rows
    with pytest.raises(FeaturesFileError, match="written for features 'v1-"):
        decode(data, "v0-x", table.num_rows)
    with pytest.raises(FeaturesFileError, match="not a features file"):
        decode(b"PK\x03\x04", fingerprint(), table.num_rows)
    with pytest.raises(FeaturesFileError, match="array verbs_rows does not fit the file"):
        decode(data[:-16], fingerprint(), table.num_rows)


def test_fingerprint_names_the_version() -> None:
    assert fingerprint().startswith(f"v{features_module.FEATURES_VERSION}-")
    assert fingerprint() == fingerprint()


def test_vectors_must_match_the_rows(sample_tables: dict[str, pa.Table]) -> None:
    table = next(iter(sample_tables.values()))
    with pytest.raises(ValueError, match="vectors for"):
        collection_features(table, np.zeros((table.num_rows + 1, DIMENSION), np.float32))


def test_doc_terms_is_a_sequence_of_rows() -> None:
    kw = KeywordIndex([{"name": ["Stop RDS"]}, {"name": ["Start VM"]}])
    assert len(kw.doc_terms) == 2
    assert kw.doc_terms[-1] == kw.doc_terms[1] == frozenset({"start", "vm"})
    assert list(kw.doc_terms) == [frozenset({"stop", "rds"}), frozenset({"start", "vm"})]
    with pytest.raises(IndexError):
        kw.doc_terms[2]


def test_the_indexer_writes_the_features_file_the_server_uses(indexed_store: Path) -> None:
    store = Store(open_blobs(str(indexed_store)))
    manifest = store.read_manifest(str(store.current().manifest_id))
    assert manifest.collections
    for ref in manifest.collections.values():
        assert FEATURES_FILE in ref.files
        data = store.load_snapshot(ref)
        assert data.features_bytes is not None
        vectors = table_vectors(data.table)
        loaded = collection_features(data.table, vectors, data.features_bytes)
        assert loaded.from_file
        assert_identical(loaded, collection_features(data.table, vectors))
