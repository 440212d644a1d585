"""Filters: validation (422 naming the field), SQL with bound values, narrowing, caching."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from indexer.embed import Embedder
from indexer.errors import InvalidParameter
from indexer.model import AUTHORS, CLOUD_PROVIDERS, SEARCHABLE_STATUSES
from indexer.store import Store
from serve.collection import LoadedCollection, Selection
from serve.collection_cache import SelectionCache
from serve.filters import (
    FILTER_KEYS,
    Filters,
    duckdb_row_ids,
    numpy_row_ids,
    parse_filters,
    row_ids,
    select_rows,
)
from serve.generation import load_generation
from tests.serve._helpers import auth, search
from tests.serve._tiny_store import TinyStore, open_store


def test_no_filters_and_canonical_form() -> None:
    assert parse_filters(None, 10) == Filters()
    a = parse_filters({"cloud_provider": ["gcp", "aws", "aws"], "tags": {"b": 1, "a": True}}, 10)
    b = parse_filters({"tags": {"a": True, "b": 1}, "cloud_provider": ["aws", "gcp"]}, 10)
    assert a == b and a.canonical() == b.canonical()
    assert a.cloud_provider == ("aws", "gcp")
    assert parse_filters({"cloud_provider": "aws"}, 10).cloud_provider == ("aws",)


def test_tag_values_match_the_indexed_strings() -> None:
    f = parse_filters({"tags": {"flag": True, "off": False, "n": 120, "x": 1.5, "y": 2.0}}, 10)
    assert dict(f.tags) == {
        "flag": ("true",),
        "off": ("false",),
        "n": ("120",),
        "x": ("1.5",),
        "y": ("2", "2.0"),
    }


@pytest.mark.parametrize(
    ("raw", "field", "expected"),
    [
        ([], "filters", "expected an object"),
        ({"colour": "red"}, "filters.colour", "known filters are cloud_provider"),
        ({"cloud_provider": "ibm"}, "filters.cloud_provider", "not one of aws, azure, gcp"),
        ({"cloud_provider": ["aws", 3]}, "filters.cloud_provider[1]", "expected a string"),
        ({"cloud_provider": {"aws": 1}}, "filters.cloud_provider", "string or an array"),
        ({"cloud_provider": []}, "filters.cloud_provider", "at least one value"),
        ({"resource_types": [""]}, "filters.resource_types[0]", "1..200 characters"),
        ({"resource_types": ["a"] * 11}, "filters.resource_types", "at most 10"),
        ({"status": ["active", "broken"]}, "filters.status[1]", "never returned by search"),
        ({"status": ["draft"]}, "filters.status[0]", "never returned by search"),
        ({"status": ["bogus"]}, "filters.status[0]", "not one of"),
        ({"author": ["robot"]}, "filters.author[0]", "not one of user_custom"),
        ({"tags": ["a"]}, "filters.tags", "expected an object"),
        ({"tags": {}}, "filters.tags", "at least one tag"),
        ({"tags": {"env": None}}, "filters.tags.env", "string, boolean or number"),
        ({"tags": {"env": ["prod"]}}, "filters.tags.env", "string, boolean or number"),
    ],
)
def test_invalid_filters_name_the_field(raw: Any, field: str, expected: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_filters(raw, 10)
    assert info.value.status == 422
    assert info.value.details["field"] == field
    assert expected in info.value.message


def test_hidden_status_error_lists_the_searchable_ones() -> None:
    with pytest.raises(InvalidParameter) as info:
        parse_filters({"status": ["broken"]}, 10)
    assert sorted(info.value.details["allowed"]) == sorted(SEARCHABLE_STATUSES)


def test_where_clause_binds_values_and_always_limits_status() -> None:
    hostile = "x') OR 1=1 --"
    f = parse_filters(
        {"resource_types": [hostile], "tags": {hostile: hostile}, "author": ["user_custom"]}, 10
    )
    where, params = f.where()
    assert hostile not in where
    assert where.startswith("status IN (?, ?, ?, ?, ?)")
    assert params[:5] == sorted(SEARCHABLE_STATUSES)
    assert [hostile] in params and hostile in params
    narrowed, params = parse_filters({"status": ["deprecated"]}, 10).where()
    assert narrowed == "status IN (?)" and params == ["deprecated"]


def test_hostile_values_match_nothing_rather_than_everything(client: TestClient) -> None:
    body = search(
        client,
        "alpha",
        {
            "query": "stop rds",
            "filters": {"resource_types": ["x') OR 1=1 --"], "tags": {"a' OR '1'='1": "b"}},
        },
    )
    assert body["results"] == [] and body["total_candidates"] == 0


def results(
    client: TestClient,
    filters: dict[str, Any],
    query: str = "cloud cost savings",
    tenant: str = "alpha",
) -> list[dict[str, Any]]:
    body = search(client, tenant, {"query": query, "filters": filters, "limit": 50})
    return list(body["results"])


def test_cloud_provider_narrows(client: TestClient) -> None:
    got = results(client, {"cloud_provider": "azure"})
    assert [r["playbook_id"] for r in got] == ["escher-azure-vm-deallocate"]
    both = results(client, {"cloud_provider": ["azure", "gcp"]})
    assert {r["playbook_id"] for r in both} == {
        "escher-azure-vm-deallocate",
        "escher-gcp-bucket-lifecycle",
    }


def test_resource_types_narrow(client: TestClient) -> None:
    got = results(client, {"resource_types": ["rds::instance"]})
    # One result per playbook by default: its best version, the older one listed under it.
    assert [(r["playbook_id"], r["version"]) for r in got] == [("escher-aws-rds-stop", "1.2.0")]
    assert [v["version"] for v in got[0]["older_versions"]] == ["1.0.0"]
    assert all("rds::instance" in r["metadata"]["resource_types"] for r in got)


def test_tags_narrow_all_pairs_must_match(client: TestClient) -> None:
    cost = results(client, {"tags": {"category": "cost-optimization"}})
    assert {r["playbook_id"] for r in cost} == {
        "escher-aws-rds-stop",
        "escher-aws-ec2-rightsize",
        "escher-azure-vm-deallocate",
    }
    both = results(client, {"tags": {"category": "cost-optimization", "requires_approval": True}})
    assert [r["playbook_id"] for r in both] == ["escher-aws-ec2-rightsize"]
    mine = results(client, {"tags": {"team": "alpha"}})
    assert [r["collection"] for r in mine] == ["tenant_alpha_playbooks"]


def test_status_narrows(client: TestClient) -> None:
    got = results(client, {"status": ["deprecated", "needs_update"]})
    assert {(r["playbook_id"], r["status"]) for r in got} == {
        ("escher-aws-rds-stop", "deprecated"),
        ("escher-gcp-bucket-lifecycle", "needs_update"),
    }


def test_author_narrows(client: TestClient) -> None:
    got = results(client, {"author": ["ai_generated"]})
    assert [r["playbook_id"] for r in got] == ["escher-aws-s3-encrypt"]
    users = results(client, {"author": "user_custom"})
    assert {r["collection"] for r in users} == {"tenant_alpha_playbooks"}


def test_filters_across_keys_are_and(client: TestClient) -> None:
    got = results(
        client, {"cloud_provider": "aws", "resource_types": ["rds::instance"], "status": ["active"]}
    )
    assert [(r["playbook_id"], r["version"]) for r in got] == [("escher-aws-rds-stop", "1.2.0")]


def test_a_filter_matching_nothing_is_an_empty_200(client: TestClient) -> None:
    response = client.post(
        "/api/playbook/search",
        headers=auth("alpha"),
        json={"query": "anything", "filters": {"cloud_provider": "gcp", "status": ["active"]}},
    )
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert response.json()["total_candidates"] == 0


def test_hidden_status_filter_is_refused(client: TestClient) -> None:
    response = client.post(
        "/api/playbook/search",
        headers=auth("alpha"),
        json={"query": "stop rds", "filters": {"status": ["broken"]}},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["field"] == "filters.status[0]"
    assert "active" in error["details"]["allowed"]


def test_repeated_filters_are_served_from_the_selection_cache(client: TestClient) -> None:
    generation = client.app.state.generation  # type: ignore[attr-defined]
    coll = generation.collection("escher_library")
    f = parse_filters({"author": ["escher_library"], "tags": {"risk_level": "medium"}}, 10)
    first = select_rows(generation, coll, f)
    hits = generation.selections.hits
    again = select_rows(
        generation,
        coll,
        parse_filters({"tags": {"risk_level": "medium"}, "author": "escher_library"}, 10),
    )
    assert again is first
    assert generation.selections.hits == hits + 1
    assert [coll.playbook_ids[i] for i in first.ids] == ["escher-aws-rds-stop"]


def test_every_filter_key_is_documented_in_openapi(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    documented = doc["components"]["schemas"]["SearchRequest"]["properties"]["filters"]
    assert set(documented["properties"]) == set(FILTER_KEYS)


# ----- the numpy fast path and DuckDB agree ------------------------------------------------

SAMPLES = Path(__file__).resolve().parents[2] / "indexer" / "samples"


@pytest.fixture(scope="module")
def sample_collections(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder, tiny_store: TinyStore
) -> Iterator[list[LoadedCollection]]:
    """Every collection of the bundled samples (indexed for real) and of the tiny store."""
    from indexer.blobs import open_blobs
    from indexer.build import run_index

    root = tmp_path_factory.mktemp("filter-samples")
    samples = Store(open_blobs(str(root)))
    run_index(
        store=samples,
        library=[open_blobs(str(SAMPLES / "escher-library"))],
        tenants=[open_blobs(str(SAMPLES / "escher-tenant-data"))],
        embedder=embedder,
    )
    generations = [
        load_generation(samples, samples.current().manifest_id or "", embedder.identity),
        load_generation(open_store(tiny_store.root), tiny_store.manifest_id, embedder.identity),
    ]
    found = [g.collection(name) for g in generations for name in g.row_counts()]
    yield [c for c in found if c is not None]
    for g in generations:
        g.close()


def _values(colls: list[LoadedCollection], column: str, known: tuple[str, ...]) -> list[str]:
    seen = {v for c in colls for v in c.value_rows[column]}
    return sorted(seen | set(known) | {"not-there"})


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_the_numpy_path_selects_the_rows_duckdb_selects(
    sample_collections: list[LoadedCollection], data: st.DataObject
) -> None:
    colls = sample_collections
    pick = data.draw(st.sampled_from(colls), label="collection")
    filters = Filters(
        status=tuple(
            sorted(data.draw(st.sets(st.sampled_from(sorted(SEARCHABLE_STATUSES)), max_size=3)))
        ),
        author=tuple(
            sorted(
                data.draw(st.sets(st.sampled_from(_values(colls, "author", AUTHORS)), max_size=3))
            )
        ),
        cloud_provider=tuple(
            sorted(
                data.draw(
                    st.sets(
                        st.sampled_from(_values(colls, "cloud_provider", CLOUD_PROVIDERS)),
                        max_size=3,
                    )
                )
            )
        ),
        resource_types=tuple(
            sorted(
                data.draw(
                    st.sets(st.sampled_from(_values(colls, "resource_types", ())), max_size=3)
                )
            )
        ),
    )
    fast = numpy_row_ids(pick, filters)
    assert fast.dtype == np.int64 and list(fast) == sorted(set(fast.tolist()))
    assert fast.tolist() == duckdb_row_ids(pick, filters).tolist()


def test_the_paths_agree_on_every_sample_collection(
    sample_collections: list[LoadedCollection],
) -> None:
    assert len(sample_collections) >= 4 and sum(c.rows for c in sample_collections) > 20
    for coll in sample_collections:
        for f in (
            Filters(),
            Filters(status=("active",)),
            Filters(cloud_provider=("aws", "gcp"), author=("escher_library", "user_custom")),
            Filters(resource_types=("rds::instance", "ec2::instance")),
        ):
            assert numpy_row_ids(coll, f).tolist() == duckdb_row_ids(coll, f).tolist()
        assert row_ids(coll, Filters()).tolist() == sorted(
            i for i, s in enumerate(coll.statuses) if s in SEARCHABLE_STATUSES
        )


def test_tag_filters_go_to_duckdb(client: TestClient) -> None:
    coll = client.app.state.generation.collection("escher_library")  # type: ignore[attr-defined]
    f = parse_filters({"resource_types": ["rds::instance"], "tags": {"risk_level": "medium"}}, 10)
    assert f.needs_duckdb and not parse_filters({"author": "escher_library"}, 10).needs_duckdb
    assert not parse_filters({"resource_types": ["rds::instance"]}, 10).needs_duckdb
    with pytest.raises(ValueError):
        numpy_row_ids(coll, f)
    assert [coll.playbook_ids[i] for i in row_ids(coll, f)] == ["escher-aws-rds-stop"]
    assert coll.filter_view is not None  # registered lazily, in the one shared connection


def test_the_selection_cache_is_bounded_by_bytes() -> None:
    cache = SelectionCache(max_bytes=10_000, size=1000)
    selection = Selection(np.arange(100, dtype=np.int64), None)  # 800 bytes (+ overhead)
    for i in range(50):
        cache.get_or_compute((("c", i), "{}"), lambda: selection)
    assert cache.bytes <= 10_000 and 5 <= len(cache) < 50
    cache.discard(("c", 49))
    assert all(k[0] != ("c", 49) for k in cache._items)
