"""What ranking reads per row beyond the vector: computed at index time, loaded at serve time.

:func:`collection_features` gives one collection's :class:`CollectionFeatures`: the BM25
index (:mod:`serve.keyword`), the unit vectors as one numpy matrix (passed in by the
caller, who already holds them), each row's providers, resource types and name verbs
(:func:`serve.intent.name_verbs`), the lowercase and normalised names (near-duplicate
detection) and the snapshot's resource-type vocabulary. Everything is immutable once built.

The indexer writes the same features into each new snapshot (:func:`features_file_bytes`,
stored as ``features.bin`` by :class:`indexer.store.Store`), computed by this very code,
so loading a collection costs a file read instead of tokenising every row. A file is used
only when its fingerprint (:data:`FEATURES_VERSION` plus a hash of the tokenisation,
stemming, field weights and name-verb code) equals this server's; otherwise, and for
snapshots without one, the features are computed from the table, with one log line.
Either way the result is the same, value for value.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import numpy as np
import pyarrow as pa

from serve import intent, keyword
from serve.features_file import FORMAT, FeatureParts, FeaturesFileError, Labels, decode, encode
from serve.intent import name_verbs
from serve.keyword import KeywordIndex, document_fields, keyword_arrays

# Bump when what the features hold, or how they are computed, changes in a way the
# source hash below cannot see (e.g. a change inside a helper it does not list).
FEATURES_VERSION = 1

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

log = logging.getLogger("serve.features")


@dataclass(frozen=True, eq=False)
class CollectionFeatures:
    """One collection's ranking features; row i == Parquet row i.

    The label maps (``verb_rows``, ``provider_rows``, ``resource_type_rows``) give each
    label's rows as ascending int32 ids; ``name_codes`` are equal exactly where the
    normalised names are. The per-row tuples (``providers``, ``verbs``...) are built on
    first use from those maps."""

    keyword: KeywordIndex
    vectors: np.ndarray  # float32 (rows, dimension), unit length
    provider_rows: Mapping[str, np.ndarray]
    resource_type_rows: Mapping[str, np.ndarray]
    verb_rows: Mapping[str, np.ndarray]
    names: tuple[str, ...]  # lowercase name
    name_codes: np.ndarray  # int32 per row: equal codes <=> equal normalised names
    distinct_names: tuple[str, ...]  # the normalised name of each code
    from_file: bool = False  # loaded from the snapshot's features file (else computed)

    @property
    def rows(self) -> int:
        return len(self.names)

    @cached_property
    def providers(self) -> tuple[frozenset[str], ...]:
        return _per_row(self.provider_rows, self.rows)

    @cached_property
    def resource_types(self) -> tuple[frozenset[str], ...]:
        return _per_row(self.resource_type_rows, self.rows)

    @cached_property
    def verbs(self) -> tuple[frozenset[str], ...]:
        return _per_row(self.verb_rows, self.rows)

    @cached_property
    def normalised_names(self) -> tuple[str, ...]:
        """For near-duplicate detection."""
        return tuple(self.distinct_names[c] for c in self.name_codes.tolist())

    @cached_property
    def vocabulary(self) -> frozenset[str]:
        """Every resource type in the collection."""
        return frozenset(self.resource_type_rows)


def normalise_name(name: str) -> str:
    return _NON_WORD.sub(" ", name.lower()).strip()


def table_vectors(table: pa.Table) -> np.ndarray:
    """The ``vector`` column as a float32 (rows, d) matrix ((rows, 0) when absent)."""
    n = table.num_rows
    if "vector" in table.column_names and n:
        flat = table.column("vector").combine_chunks().flatten().to_numpy()
        return np.ascontiguousarray(flat.reshape(n, -1), dtype=np.float32)
    return np.zeros((n, 0), dtype=np.float32)


def collection_features(
    table: pa.Table, vectors: np.ndarray, precomputed: bytes | None = None, *, where: str = ""
) -> CollectionFeatures:
    """The features of ``table`` (row i == vector i of ``vectors``).

    ``precomputed`` is the snapshot's features file, if it has one: used when it was
    written by the same feature code (:func:`fingerprint`), else the features are computed
    from the table, as they are when it is None; ``where`` names the snapshot in that log
    line. The result is the same either way."""
    n = table.num_rows
    if precomputed is not None:
        try:
            parts = decode(precomputed, fingerprint(), n)
        except FeaturesFileError as exc:
            log.info(
                "%s: features file not used (%s); computing the features from the table",
                where or "snapshot",
                exc,
                extra={"snapshot": where, "reason": str(exc)},
            )
        else:
            return _assemble(parts, vectors, from_file=True)
    else:
        log.info(
            "%s: no features file; computing the features from the table",
            where or "snapshot",
            extra={"snapshot": where},
        )
    return _assemble(compute_parts(table), vectors, from_file=False)


def features_file_bytes(table: pa.Table) -> bytes:
    """The features file of ``table`` (what the indexer stores next to its snapshot)."""
    return encode(compute_parts(table), fingerprint())


def compute_parts(table: pa.Table) -> FeatureParts:
    """Tokenise and label every row of ``table`` (the slow part, seconds per 10k rows)."""
    present = [c for c in _TEXT_COLUMNS if c in table.column_names]
    rows = table.select(present).to_pylist()
    raw_names = [str(r.get("name") or "") for r in rows]
    distinct: dict[str, int] = {}
    codes = np.fromiter(
        (distinct.setdefault(normalise_name(nm), len(distinct)) for nm in raw_names),
        dtype=np.int32,
        count=len(rows),
    )
    verbs = [
        name_verbs(nm, str(r.get("playbook_id") or ""))
        for nm, r in zip(raw_names, rows, strict=True)
    ]
    return FeatureParts(
        rows=len(rows),
        keyword=keyword_arrays([document_fields(r) for r in rows]),
        providers=_labels(r.get("cloud_provider") or () for r in rows),
        resource_types=_labels(r.get("resource_types") or () for r in rows),
        verbs=_labels(verbs),
        names=[nm.lower() for nm in raw_names],
        distinct_names=list(distinct),
        name_codes=codes,
    )


@cache
def fingerprint() -> str:
    """``v<FEATURES_VERSION>-<hash>`` of the code and constants the features depend on:
    a features file stamped otherwise was made by other code and is not used."""
    sources: list[Callable[..., Any]] = [
        keyword.stem,
        keyword.tokens,
        keyword._list,
        keyword._step_details,
        keyword.document_fields,
        keyword.keyword_arrays,
        intent.name_verbs,
        normalise_name,
        compute_parts,
        _labels,
    ]
    constants: list[Any] = [
        keyword.K1,
        keyword.B,
        sorted(keyword.FIELD_WEIGHTS.items()),
        sorted(keyword.STOPWORDS),
        keyword._RAW.pattern,
        keyword._CAMEL.pattern,
        keyword._VOWEL.pattern,
        sorted(intent.NAME_VERBS.items()),
        intent._NAME_PAIRS,
        intent._WORDS.pattern,
        _NON_WORD.pattern,
        _TEXT_COLUMNS,
        FORMAT,
    ]
    h = hashlib.sha256(json.dumps(constants).encode())
    for fn in sources:
        h.update(inspect.getsource(fn).encode())
    return f"v{FEATURES_VERSION}-{h.hexdigest()[:16]}"


def _labels(per_row: Iterable[Iterable[Any]]) -> Labels:
    """label -> ascending rows, labels sorted, from each row's labels."""
    by_label: dict[str, list[int]] = {}
    for i, labels in enumerate(per_row):
        for label in set(labels):
            if label is not None:
                by_label.setdefault(str(label), []).append(i)
    return Labels.from_mapping(dict(sorted(by_label.items())))


def _assemble(parts: FeatureParts, vectors: np.ndarray, from_file: bool) -> CollectionFeatures:
    if vectors.shape[0] != parts.rows:
        raise ValueError(f"{vectors.shape[0]} vectors for {parts.rows} rows")
    return CollectionFeatures(
        keyword=KeywordIndex.from_arrays(parts.keyword),
        vectors=vectors,
        provider_rows=parts.providers.as_mapping(),
        resource_type_rows=parts.resource_types.as_mapping(),
        verb_rows=parts.verbs.as_mapping(),
        names=tuple(parts.names),
        name_codes=parts.name_codes,
        distinct_names=tuple(parts.distinct_names),
        from_file=from_file,
    )


def _per_row(by_label: Mapping[str, np.ndarray], rows: int) -> tuple[frozenset[str], ...]:
    held: list[list[str]] = [[] for _ in range(rows)]
    for label, ids in by_label.items():
        for r in ids.tolist():
            held[r].append(label)
    # Rows share few distinct sets: one frozenset object per distinct set.
    interned: dict[tuple[str, ...], frozenset[str]] = {}
    return tuple(interned.setdefault(tuple(h), frozenset(h)) for h in held)
