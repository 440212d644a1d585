"""What ranking reads per row beyond the vector, computed once when a generation loads.

:func:`collection_features` turns one collection's Parquet table into a
:class:`CollectionFeatures`: the BM25 index (:mod:`serve.keyword`), the unit vectors as
one numpy matrix (exact scoring of small filtered subsets and of keyword-only candidates),
each row's providers, resource types and name verbs (:func:`serve.intent.name_verbs`),
the normalised name (near-duplicate detection) and the snapshot's resource-type
vocabulary. Everything is immutable once built, like the generation itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from serve.intent import name_verbs
from serve.keyword import KeywordIndex, document_fields

_TEXT_COLUMNS = (
    "playbook_id",
    "name",
    "description",
    "purpose",
    "keywords",
    "use_cases",
    "cloud_provider",
    "resource_types",
    "step_names",
    "parameter_names",
    "explain_plan_json",
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class CollectionFeatures:
    keyword: KeywordIndex
    vectors: np.ndarray  # float32 (rows, dimension), unit length
    providers: tuple[frozenset[str], ...]
    resource_types: tuple[frozenset[str], ...]
    verbs: tuple[frozenset[str], ...]
    names: tuple[str, ...]  # lowercase name
    normalised_names: tuple[str, ...]  # for near-duplicate detection
    vocabulary: frozenset[str]  # every resource type in the collection


def normalise_name(name: str) -> str:
    return _NON_WORD.sub(" ", name.lower()).strip()


def collection_features(table: pa.Table) -> CollectionFeatures:
    present = [c for c in _TEXT_COLUMNS if c in table.column_names]
    rows = table.select(present).to_pylist()
    n = table.num_rows
    if "vector" in table.column_names and n:
        flat = table.column("vector").combine_chunks().flatten().to_numpy()
        vectors = np.ascontiguousarray(flat.reshape(n, -1), dtype=np.float32)
    else:
        vectors = np.zeros((n, 0), dtype=np.float32)
    providers = tuple(frozenset(r.get("cloud_provider") or []) for r in rows)
    types = tuple(frozenset(r.get("resource_types") or []) for r in rows)
    names = tuple(str(r.get("name") or "") for r in rows)
    return CollectionFeatures(
        keyword=KeywordIndex([document_fields(r) for r in rows]),
        vectors=vectors,
        providers=providers,
        resource_types=types,
        verbs=tuple(
            name_verbs(nm, str(r.get("playbook_id") or ""))
            for nm, r in zip(names, rows, strict=True)
        ),
        names=tuple(nm.lower() for nm in names),
        normalised_names=tuple(normalise_name(nm) for nm in names),
        vocabulary=frozenset(t for ts in types for t in ts),
    )
