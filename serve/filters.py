"""Search filters: validate the request's ``filters`` object, turn it into row ids.

Accepted keys (values within one key are OR-ed, keys are AND-ed)::

    cloud_provider  str | [str]      one of indexer.model.CLOUD_PROVIDERS
    resource_types  str | [str]      e.g. "rds::instance"
    tags            {str: str|bool|number}   every pair must match the playbook's tags
    status          str | [str]      searchable statuses only (hidden ones -> 422)
    author          str | [str]      one of indexer.model.AUTHORS

Lists hold 1..``max_filter_values`` values. Tag values match the indexed strings, which
the indexer writes as ``str(value)`` with booleans as ``"true"``/``"false"``.
Every selection is AND-ed with ``status IN (searchable statuses)``, whatever the request
says. No filters, and ``status`` / ``author`` / ``cloud_provider`` / ``resource_types``
filters, are answered from the collection's precomputed per-value row lists (numpy, no
DuckDB); a filter with ``tags`` is evaluated by the shared DuckDB connection
(:mod:`serve.filter_db`). Both paths give the same rows. Selections are cached per
snapshot and canonical filter (:class:`serve.collection_cache.SelectionCache`).
Errors are :class:`~indexer.errors.InvalidParameter` (422) naming the field
(``filters.cloud_provider[0]``) and what was expected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from indexer.errors import InvalidParameter
from indexer.model import AUTHORS, CLOUD_PROVIDERS, SEARCHABLE_STATUSES, STATUSES
from serve._kinds import json_kind
from serve.collection import union_rows
from serve.generation import Generation, LoadedCollection, Selection

FILTER_KEYS = ("cloud_provider", "resource_types", "tags", "status", "author")
SEARCHABLE = tuple(sorted(SEARCHABLE_STATUSES))
HIDDEN = frozenset(STATUSES) - SEARCHABLE_STATUSES
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class Filters:
    """Validated filters, each tuple sorted and de-duplicated (empty = no constraint)."""

    cloud_provider: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()  # key -> strings that match
    status: tuple[str, ...] = ()
    author: tuple[str, ...] = ()

    def canonical(self) -> str:
        """A stable text key: equal filters, equal keys (the selection-cache key)."""
        return json.dumps(
            [self.cloud_provider, self.resource_types, self.tags, self.status, self.author]
        )

    @property
    def needs_duckdb(self) -> bool:
        """Whether only DuckDB evaluates these filters (tag lookups in the map column)."""
        return bool(self.tags)

    def where(self) -> tuple[str, list[Any]]:
        """A DuckDB WHERE clause with ``?`` placeholders, and the values to bind."""
        statuses = [s for s in SEARCHABLE if not self.status or s in self.status]
        clauses = [f"status IN ({', '.join('?' * len(statuses))})"]
        params: list[Any] = list(statuses)
        if self.cloud_provider:
            clauses.append("list_has_any(cloud_provider, ?::VARCHAR[])")
            params.append(list(self.cloud_provider))
        if self.resource_types:
            clauses.append("list_has_any(resource_types, ?::VARCHAR[])")
            params.append(list(self.resource_types))
        for key, accepted in self.tags:
            clauses.append("list_contains(?::VARCHAR[], tags[?])")
            params.extend([list(accepted), key])
        if self.author:
            clauses.append(f"author IN ({', '.join('?' * len(self.author))})")
            params.extend(self.author)
        return " AND ".join(clauses), params


NO_FILTERS = Filters()


def _fail(field: str, message: str, **details: Any) -> InvalidParameter:
    return InvalidParameter(f"{field}: {message}", field=field, **details)


def _strings(
    raw: Any,
    field: str,
    max_values: int,
    allowed: tuple[str, ...] | None = None,
    hidden: frozenset[str] = frozenset(),
) -> tuple[str, ...]:
    values = [raw] if isinstance(raw, str) else raw
    if not isinstance(values, list):
        raise _fail(field, f"expected a string or an array of strings, got {json_kind(raw)}")
    if not values:
        raise _fail(field, "expected at least one value (leave the filter out to match all)")
    if len(values) > max_values:
        raise _fail(
            field,
            f"has {len(values)} values; at most {max_values} are allowed",
            max_values=max_values,
        )
    for i, value in enumerate(values):
        at = field if isinstance(raw, str) else f"{field}[{i}]"
        if not isinstance(value, str):
            raise _fail(at, f"expected a string, got {json_kind(value)}")
        if not value or len(value) > MAX_VALUE_CHARS:
            raise _fail(at, f"expected 1..{MAX_VALUE_CHARS} characters")
        if value in hidden:
            raise _fail(
                at,
                f"{value!r} playbooks are never returned by search; searchable "
                f"statuses are {', '.join(allowed or ())}",
                allowed=list(allowed or ()),
            )
        if allowed is not None and value not in allowed:
            raise _fail(at, f"{value!r} is not one of {', '.join(allowed)}", allowed=list(allowed))
    return tuple(sorted(set(values)))


def _tag_strings(value: Any, field: str) -> tuple[str, ...]:
    """The indexed strings a filter tag value matches (the indexer's ``str()`` forms)."""
    if isinstance(value, bool):
        return ("true",) if value else ("false",)
    if isinstance(value, int):
        return (str(value),)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _fail(field, "expected a finite number")
        return tuple(sorted({str(value), str(int(value))})) if value.is_integer() else (str(value),)
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise _fail(field, f"expected at most {MAX_VALUE_CHARS} characters")
        return (value,)
    raise _fail(field, f"expected a string, boolean or number, got {json_kind(value)}")


def _tags(raw: Any, max_values: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    field = "filters.tags"
    if not isinstance(raw, dict):
        raise _fail(field, f"expected an object of tag -> value, got {json_kind(raw)}")
    if not raw:
        raise _fail(field, "expected at least one tag (leave the filter out to match all)")
    if len(raw) > max_values:
        raise _fail(
            field, f"has {len(raw)} tags; at most {max_values} are allowed", max_values=max_values
        )
    out = []
    for key, value in raw.items():
        if not key or len(key) > MAX_VALUE_CHARS:
            raise _fail(field, f"tag names must have 1..{MAX_VALUE_CHARS} characters")
        out.append((key, _tag_strings(value, f"{field}.{key}")))
    return tuple(sorted(out))


def parse_filters(raw: Any, max_values: int) -> Filters:
    """Validate the request's ``filters`` value (``None`` = no filters)."""
    if raw is None:
        return NO_FILTERS
    if not isinstance(raw, dict):
        raise _fail("filters", f"expected an object, got {json_kind(raw)}")
    for key in raw:
        if key not in FILTER_KEYS:
            raise _fail(
                f"filters.{key}",
                f"unknown filter; known filters are {', '.join(FILTER_KEYS)}",
                known=list(FILTER_KEYS),
            )
    given: Mapping[str, Any] = raw
    return Filters(
        cloud_provider=_strings(
            given["cloud_provider"], "filters.cloud_provider", max_values, CLOUD_PROVIDERS
        )
        if "cloud_provider" in given
        else (),
        resource_types=_strings(given["resource_types"], "filters.resource_types", max_values)
        if "resource_types" in given
        else (),
        tags=_tags(given["tags"], max_values) if "tags" in given else (),
        status=_strings(given["status"], "filters.status", max_values, SEARCHABLE, HIDDEN)
        if "status" in given
        else (),
        author=_strings(given["author"], "filters.author", max_values, AUTHORS)
        if "author" in given
        else (),
    )


def select_rows(
    generation: Generation, collection: LoadedCollection, filters: Filters
) -> Selection:
    """The rows of ``collection`` that are searchable and match ``filters`` (cached)."""

    def compute() -> Selection:
        return collection.selection(row_ids(collection, filters))

    return generation.selections.get_or_compute((collection.key, filters.canonical()), compute)


def row_ids(collection: LoadedCollection, filters: Filters) -> np.ndarray:
    """Ascending int64 ids of ``collection``'s searchable rows matching ``filters``."""
    if filters.needs_duckdb:
        return duckdb_row_ids(collection, filters)
    return numpy_row_ids(collection, filters)


def duckdb_row_ids(collection: LoadedCollection, filters: Filters) -> np.ndarray:
    """:func:`row_ids` evaluated by DuckDB (any filter)."""
    where, params = filters.where()
    return collection.query_row_ids(where, params)


def numpy_row_ids(collection: LoadedCollection, filters: Filters) -> np.ndarray:
    """:func:`row_ids` from the per-value row lists; ``tags`` are not supported here
    (ValueError)."""
    if filters.needs_duckdb:
        raise ValueError("tags filters are evaluated by DuckDB")
    by = collection.value_rows
    ids = (
        union_rows([by["status"].get(s) for s in filters.status])
        if filters.status
        else collection.searchable_ids
    )
    for column, wanted in (
        ("author", filters.author),
        ("cloud_provider", filters.cloud_provider),
        ("resource_types", filters.resource_types),
    ):
        if wanted and len(ids):
            ids = np.intersect1d(
                ids, union_rows([by[column].get(v) for v in wanted]), assume_unique=True
            )
    return np.ascontiguousarray(ids, dtype=np.int64)
