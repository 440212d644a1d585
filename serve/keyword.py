"""The keyword channel: BM25 over a collection's text fields, built once per generation.

Fields and weights (a weighted term frequency, "BM25F-lite")::

    name 3.0   playbook_id 2.0   resource_types 2.0   keywords 1.5   step_names 1.5
    description 1.0   use_cases 1.0   cloud_provider 1.0   purpose 0.5
    parameter_names 0.5   step details (explain plan) 0.5

Tokens (:func:`tokens`): lowercase words, lightly stemmed (``stopped`` -> ``stop``,
``policies`` -> ``policy``). Identifiers are kept whole *and* split: ``rds::instance`` ->
``rds::instance``, ``rds``, ``instance``; ``StopDBInstance`` -> ``stopdbinstance``,
``stop``, ``db``, ``instance``; ``EC2.10`` -> ``ec2.10``, ``ec2``, ``10``; so an
identifier in a query matches exactly (whole token, high IDF) while its parts still match
loosely.

:meth:`KeywordIndex.correct` maps a query word missing from the vocabulary to the most
frequent vocabulary word within one edit (two for words of 8+ letters), so ``gaurdduty``
-> ``guardduty``. Per query the cost is one numpy add per query term over precomputed
per-term (doc, weight) arrays.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, overload

import numpy as np

K1 = 1.2
B = 0.75
FIELD_WEIGHTS: Mapping[str, float] = {
    "name": 3.0,
    "playbook_id": 2.0,
    "resource_types": 2.0,
    "keywords": 1.5,
    "step_names": 1.5,
    "description": 1.0,
    "use_cases": 1.0,
    "cloud_provider": 1.0,
    "purpose": 0.5,
    "parameter_names": 0.5,
    "step_details": 0.5,
}
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "for",
        "from",
        "with",
        "by",
        "at",
        "as",
        "is",
        "are",
        "be",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "my",
        "our",
        "your",
        "we",
        "i",
        "me",
        "us",
        "you",
        "they",
        "them",
        "their",
        "there",
        "here",
        "so",
        "into",
        "onto",
        "over",
        "under",
        "up",
        "down",
        "out",
        "off",
        "all",
        "any",
        "some",
        "can",
        "could",
        "should",
        "would",
        "will",
        "how",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "do",
        "does",
        "did",
        "not",
        "no",
        "yes",
        "if",
        "then",
        "than",
        "just",
        "get",
        "got",
        "via",
        "per",
        "each",
        "every",
        "both",
        "need",
        "needs",
        "want",
        "wants",
        "using",
        "use",
        "used",
        "one",
        "two",
    ]
)
_RAW = re.compile(r"[A-Za-z0-9]+(?:(?:::|[:./_-])[A-Za-z0-9]+)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_VOWEL = re.compile(r"[aeiouy]")


def stem(word: str) -> str:
    """A light, consistent suffix stripper (both documents and queries go through it)."""
    if len(word) <= 3 or not word.isalpha():
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    for suffix in ("ing", "ed"):
        if word.endswith(suffix):
            base = word[: -len(suffix)]
            if len(base) >= 3 and _VOWEL.search(base):
                if len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz":
                    base = base[:-1]
                return base[:-1] if base.endswith("e") and len(base) > 3 else base
            return word
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def tokens(
    text: str, keep_stopwords: bool = False, surface: Counter[tuple[str, str]] | None = None
) -> list[str]:
    """Index/query tokens of ``text`` (see the module docstring); ``surface`` counts
    (stem, word as written) pairs when given."""
    out: list[str] = []
    for raw in _RAW.findall(text):
        lower = raw.lower()
        parts = [p.lower() for p in _CAMEL.findall(raw)]
        compound = len(parts) > 1
        if compound:
            out.append(lower)  # the identifier as a whole
        for p in parts:
            if not keep_stopwords and p in STOPWORDS:
                continue
            stemmed = stem(p)
            out.append(stemmed)
            if surface is not None and stemmed != p:
                surface[(stemmed, p)] += 1
    return out


def _list(value: Any) -> list[str]:
    return [str(v) for v in value or []]


def _step_details(explain_plan_json: str | None) -> list[str]:
    if not explain_plan_json:
        return []
    try:
        plan = json.loads(explain_plan_json)
    except ValueError:
        return []
    plan = plan.get("explain_plan", plan) if isinstance(plan, dict) else {}
    steps = plan.get("what_happens") or [] if isinstance(plan, dict) else []
    return [str(s.get("details") or "") for s in steps if isinstance(s, dict)]


def document_fields(row: Mapping[str, Any]) -> dict[str, list[str]]:
    """The text of each indexed field of one Parquet row (missing columns are empty)."""
    return {
        "name": [str(row.get("name") or "")],
        "playbook_id": [str(row.get("playbook_id") or "").replace("-", " ")],
        "resource_types": _list(row.get("resource_types")),
        "keywords": _list(row.get("keywords")),
        "step_names": _list(row.get("step_names")),
        "description": [str(row.get("description") or "")],
        "use_cases": _list(row.get("use_cases")),
        "cloud_provider": _list(row.get("cloud_provider")),
        "purpose": [str(row.get("purpose") or "")],
        "parameter_names": _list(row.get("parameter_names")),
        "step_details": _step_details(row.get("explain_plan_json")),
    }


def _edits1(word: str) -> set[str]:
    letters = "abcdefghijklmnopqrstuvwxyz0123456789"
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deletes = {a + b[1:] for a, b in splits if b}
    swaps = {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    replaces = {a + c + b[1:] for a, b in splits if b for c in letters}
    inserts = {a + c + b for a, b in splits for c in letters}
    return deletes | swaps | replaces | inserts


def _within_two_edits(a: str, b: str) -> bool:
    """Whether the optimal-string-alignment distance of ``a`` and ``b`` is at most 2
    (insertions, deletions, substitutions, adjacent transpositions)."""
    if abs(len(a) - len(b)) > 2:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                v = min(v, prev2[j - 2] + 1)
            cur[j] = v
        if min(cur) > 2:
            return False
        prev2, prev = prev, cur
    return prev[len(b)] <= 2


@dataclass(frozen=True)
class KeywordHits:
    """BM25 scores for every row (0 where nothing matched) and the query terms used."""

    scores: np.ndarray  # float32, one per row
    terms: tuple[str, ...]
    corrections: Mapping[str, str]


@dataclass(frozen=True)
class KeywordArrays:
    """A :class:`KeywordIndex` as plain arrays (what the features file stores).

    Postings are CSR: term ``terms[i]`` occurs in rows ``row_ids[offsets[i]:offsets[i+1]]``
    (ascending) with BM25 term-frequency weights ``weights[...]`` (IDF is applied per
    query). ``terms`` keep first-seen order; ``surface`` maps a stem to its most common
    written form."""

    rows: int
    terms: Sequence[str]
    offsets: np.ndarray  # int64, len(terms) + 1
    row_ids: np.ndarray  # int32, one per posting
    weights: np.ndarray  # float32, one per posting
    surface: Mapping[str, str]


def keyword_arrays(docs: Sequence[Mapping[str, list[str]]]) -> KeywordArrays:
    """Tokenise every field of every doc (see the module docstring) into postings."""
    rows = len(docs)
    tf: dict[str, dict[int, float]] = defaultdict(dict)
    lengths = np.zeros(rows, dtype=np.float64)
    forms: Counter[tuple[str, str]] = Counter()
    for i, doc in enumerate(docs):
        counts: dict[str, float] = defaultdict(float)  # weighted term frequency
        for fieldname, texts in doc.items():
            weight = FIELD_WEIGHTS.get(fieldname, 0.0)
            if not weight:
                continue
            for text in texts:
                for t in tokens(text, surface=forms):
                    counts[t] += weight
        for t, c in counts.items():
            tf[t][i] = c
        lengths[i] = sum(counts.values())
    avgdl = float(lengths.mean()) if rows else 1.0
    norm = K1 * (1 - B + B * lengths / max(avgdl, 1e-9))
    offsets = np.zeros(len(tf) + 1, dtype=np.int64)
    np.cumsum([len(d) for d in tf.values()], out=offsets[1:])
    nnz = int(offsets[-1])
    row_ids = np.fromiter((i for d in tf.values() for i in d), dtype=np.int32, count=nnz)
    f = np.fromiter((c for d in tf.values() for c in d.values()), dtype=np.float64, count=nnz)
    # the term-frequency part only: IDF is applied per query (see search), so that
    # several collections searched together share one IDF
    weights = (f * (K1 + 1) / (f + norm[row_ids])).astype(np.float32)
    # stem -> its most common written form (to put a corrected word back into a query)
    surface: dict[str, str] = {}
    for (stemmed, word), _n in sorted(forms.items(), key=lambda x: (-x[1], x[0])):
        surface.setdefault(stemmed, word)
    return KeywordArrays(rows, list(tf), offsets, row_ids, weights, surface)


class _Postings(Mapping[str, tuple[np.ndarray, np.ndarray]]):
    """term -> (row ids, weights): views into :class:`KeywordArrays`, no copies."""

    def __init__(self, term_ids: Mapping[str, int], arrays: KeywordArrays) -> None:
        self._ids = term_ids
        self._a = arrays

    def __getitem__(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        i = self._ids[term]
        lo, hi = int(self._a.offsets[i]), int(self._a.offsets[i + 1])
        return self._a.row_ids[lo:hi], self._a.weights[lo:hi]

    def __contains__(self, term: object) -> bool:
        return term in self._ids

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class _DocTerms(Sequence[frozenset[str]]):
    """Row -> the set of terms it holds, built on first access per row (the per-row
    term lists come from one transpose of the postings, made on first use)."""

    def __init__(self, arrays: KeywordArrays) -> None:
        self._a = arrays
        self._cache: dict[int, frozenset[str]] = {}
        self._by_row: tuple[np.ndarray, np.ndarray] | None = None

    def _transpose(self) -> tuple[np.ndarray, np.ndarray]:
        if self._by_row is None:
            a = self._a
            term_of = np.repeat(np.arange(len(a.terms), dtype=np.int32), np.diff(a.offsets))
            order = np.argsort(a.row_ids, kind="stable")
            starts = np.zeros(a.rows + 1, dtype=np.int64)
            np.cumsum(np.bincount(a.row_ids, minlength=a.rows), out=starts[1:])
            self._by_row = (starts, term_of[order])
        return self._by_row

    def __len__(self) -> int:
        return self._a.rows

    @overload
    def __getitem__(self, row: int) -> frozenset[str]: ...

    @overload
    def __getitem__(self, row: slice) -> Sequence[frozenset[str]]: ...

    def __getitem__(self, row: int | slice) -> frozenset[str] | Sequence[frozenset[str]]:
        if isinstance(row, slice):
            return [self[i] for i in range(*row.indices(len(self)))]
        row = int(row)
        if row < 0:
            row += self._a.rows
        if not 0 <= row < self._a.rows:
            raise IndexError(f"row {row} out of range (rows: {self._a.rows})")
        found = self._cache.get(row)
        if found is None:
            starts, term_ids = self._transpose()
            terms = self._a.terms
            found = frozenset(terms[t] for t in term_ids[starts[row] : starts[row + 1]].tolist())
            self._cache[row] = found
        return found


class KeywordIndex:
    """An immutable BM25 index over one collection's rows (row i == Parquet row i)."""

    def __init__(self, docs: Sequence[Mapping[str, list[str]]]) -> None:
        self._adopt(keyword_arrays(docs))

    @classmethod
    def from_arrays(cls, arrays: KeywordArrays) -> KeywordIndex:
        """The index whose :attr:`arrays` are ``arrays`` (e.g. read from a features file);
        equal arrays give an index that answers exactly as the one built from the docs."""
        index = cls.__new__(cls)
        index._adopt(arrays)
        return index

    def _adopt(self, arrays: KeywordArrays) -> None:
        self.arrays = arrays
        self.rows = arrays.rows
        term_ids = {t: i for i, t in enumerate(arrays.terms)}
        self.df: dict[str, int] = dict(
            zip(arrays.terms, np.diff(arrays.offsets).tolist(), strict=True)
        )
        self._postings: Mapping[str, tuple[np.ndarray, np.ndarray]] = _Postings(term_ids, arrays)
        self.vocabulary = frozenset(term_ids)
        self.surface: dict[str, str] = dict(arrays.surface)
        # words per row (stemmed index terms), for typo correction and evidence
        self.doc_terms: Sequence[frozenset[str]] = _DocTerms(arrays)

    @cached_property
    def _by_length(self) -> dict[int, list[str]]:
        by_length: dict[int, list[str]] = defaultdict(list)
        for t in self.vocabulary:
            if t.isalpha():
                by_length[len(t)].append(t)
        return by_length

    def coverage_many(self, rows: np.ndarray, terms: Sequence[str]) -> np.ndarray:
        """:meth:`coverage` of each of ``rows`` at once (float64, the same values)."""
        rows = np.asarray(rows, dtype=np.int64)
        distinct = set(terms)
        held = np.zeros(len(rows), dtype=np.int64)
        if not distinct or not len(rows):
            return held.astype(np.float64)
        for t in distinct:
            posting = self._postings.get(t)
            if posting is None or not len(posting[0]):
                continue
            ids = posting[0]
            pos = np.minimum(np.searchsorted(ids, rows), len(ids) - 1)
            held += ids[pos] == rows
        return held / len(distinct)

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]]) -> KeywordIndex:
        return cls([document_fields(r) for r in rows])

    def correct(self, term: str, prefer: frozenset[str] = frozenset()) -> str | None:
        """The vocabulary word ``term`` most likely misspells, or None (see module doc)."""
        if term in self._postings or len(term) < 3 or not term.isalpha() or term in prefer:
            return None
        candidates = _edits1(term) & self.vocabulary
        if len(term) <= 4:  # short words: only a correction into the known lexicon
            candidates &= prefer
        if not candidates and len(term) >= 8:
            # Two edits: scan the words of a similar length that start like the term
            # (generating every two-edit string costs ~0.5 s for a 15-letter word).
            candidates = {
                w
                for n in range(len(term) - 2, len(term) + 3)
                for w in self._by_length.get(n, ())
                if w[0] in term[:2] and _within_two_edits(term, w)
            }
        if not candidates:
            return None
        return max(candidates, key=lambda c: (c in prefer, self.df.get(c, 0), c))

    def query_terms(
        self, text: str, prefer: frozenset[str] = frozenset()
    ) -> tuple[list[str], dict[str, str]]:
        """The index terms of a query, with typo corrections applied (and reported)."""
        out: list[str] = []
        fixed: dict[str, str] = {}
        for t in tokens(text):
            if t in self._postings:
                out.append(t)
                continue
            c = self.correct(t, prefer)
            if c is not None:
                fixed[t] = c
                out.append(c)
            else:
                out.append(t)
        return out, fixed

    def search(self, terms: Sequence[str], idf: Mapping[str, float] | None = None) -> np.ndarray:
        """BM25 score of every row for ``terms`` (repeated terms count once). ``idf``
        gives each term's IDF (:func:`shared_idf` over every collection searched);
        by default this collection's own."""
        scores = np.zeros(self.rows, dtype=np.float32)
        for t in dict.fromkeys(terms):
            posting = self._postings.get(t)
            if posting is None:
                continue
            idx, w = posting
            scores[idx] += w * (idf[t] if idf is not None else self.idf(t))
        return scores

    def coverage(self, row: int, terms: Sequence[str]) -> float:
        """Share of distinct ``terms`` present in ``row`` (keyword evidence for a match)."""
        distinct = set(terms)
        if not distinct:
            return 0.0
        return len(distinct & self.doc_terms[row]) / len(distinct)

    def idf(self, term: str) -> float:
        return bm25_idf(self.rows, self.df.get(term, 0))


def bm25_idf(rows: int, df: int) -> float:
    return math.log(1 + (rows - df + 0.5) / (df + 0.5))


def shared_idf(indexes: Sequence[KeywordIndex], terms: Iterable[str]) -> dict[str, float]:
    """IDF of each term over several collections taken as one corpus (so scores from
    the library and a small tenant collection are comparable)."""
    rows = sum(i.rows for i in indexes)
    return {t: bm25_idf(rows, sum(i.df.get(t, 0) for i in indexes)) for t in set(terms)}
