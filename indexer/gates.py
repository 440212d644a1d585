"""Promotion gates: refuse to move CURRENT to a manifest that looks like a broken run.

A run over half-uploaded sources, or one whose validation regressed, would otherwise go
live at once. Before the pointer moves (:func:`indexer.build.run_index` with ``gates=``),
each collection is judged against two shares:

- rejected: of the version folders the run looked at in a collection it rebuilt, the share
  validation left out (counted per folder, however many problems one folder has);
- dropped: how many playbook versions a collection lost against the parent manifest (a
  collection missing from the new manifest lost all of them).

A share strictly above its limit fails. Collections carried over unchanged are not judged
again. A failure raises :class:`PromotionRefused`, which carries the failures and the diff
from the parent to the refused manifest; the manifest is never written and CURRENT stays
where it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from indexer.errors import ConfigError, PlaybookError, StoreError

if TYPE_CHECKING:  # kept light: the CLI imports this module to build its parser
    from indexer.build import CollectionOutcome, RunReport
    from indexer.snapshots import ManifestDiff
    from indexer.store import Manifest, SnapshotRef, Store

DEFAULT_MAX_REJECTED_SHARE = 0.2
DEFAULT_MAX_DROP_SHARE = 0.3


@dataclass(frozen=True)
class GatePolicy:
    """The limits, as shares from 0 to 1 (``max_drop_share=1`` lets a collection go)."""

    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE
    max_drop_share: float = DEFAULT_MAX_DROP_SHARE

    def __post_init__(self) -> None:
        for name in ("max_rejected_share", "max_drop_share"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ConfigError(f"{name} must be a share from 0 to 1, got {value}", setting=name)


@dataclass(frozen=True)
class GateFailure:
    """One collection over one limit: ``count`` of ``total`` (folders, or parent rows)."""

    collection: str
    gate: str  # "rejected_share" | "drop_share"
    count: int
    total: int
    limit: float
    removed: bool = False  # drop_share: the collection is gone from the new manifest

    @property
    def share(self) -> float:
        return self.count / self.total if self.total else 0.0

    @property
    def message(self) -> str:
        if self.gate == "rejected_share":
            return (
                f"{self.collection}: validation rejected {self.count} of {self.total} "
                f"version folders ({self.share:.0%}); the limit is {self.limit:.0%}"
            )
        if self.removed:
            return (
                f"{self.collection}: the collection ({self.total} playbook versions) "
                f"would be removed; the drop limit is {self.limit:.0%}"
            )
        return (
            f"{self.collection}: {self.count} of {self.total} playbook versions would be "
            f"dropped ({self.share:.0%}); the limit is {self.limit:.0%}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "gate": self.gate,
            "count": self.count,
            "total": self.total,
            "share": round(self.share, 4),
            "limit": self.limit,
            "removed": self.removed,
            "message": self.message,
        }


def check_gates(
    parent: Manifest | None,
    new_collections: Mapping[str, SnapshotRef],
    outcomes: Mapping[str, CollectionOutcome],
    *,
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE,
    max_drop_share: float = DEFAULT_MAX_DROP_SHARE,
) -> list[GateFailure]:
    """Every gate the proposed collections fail (empty: promote), sorted by collection.

    ``outcomes`` is the run's :class:`~indexer.build.CollectionOutcome` per collection; only
    those with action ``built`` are judged for rejections.
    """
    failures: list[GateFailure] = []
    for name, out in sorted(outcomes.items()):
        if out.action != "built" or out.seen <= 0:
            continue
        bad = min(len({r.folder for r in out.rejected}), out.seen)
        if bad / out.seen > max_rejected_share:
            failures.append(GateFailure(name, "rejected_share", bad, out.seen, max_rejected_share))
    for name, old in sorted((parent.collections if parent else {}).items()):
        new = new_collections.get(name)
        dropped = old.rows - (new.rows if new else 0)
        if old.rows > 0 and dropped > 0 and dropped / old.rows > max_drop_share:
            failures.append(
                GateFailure(
                    name, "drop_share", dropped, old.rows, max_drop_share, removed=new is None
                )
            )
    failures.sort(key=lambda f: (f.collection, f.gate))
    return failures


class PromotionRefused(PlaybookError):
    """A gate failed: the new manifest was not written and CURRENT did not move."""

    status = 409
    code = "promotion_refused"

    def __init__(
        self,
        failures: list[GateFailure],
        *,
        current: str | None,
        proposed: str,
        diff: ManifestDiff | None = None,
        report: RunReport | None = None,
    ) -> None:
        message = f"promotion refused, CURRENT stays at {current or '(empty store)'}: " + "; ".join(
            f.message for f in failures
        )
        super().__init__(
            message,
            current=current,
            proposed=proposed,
            failures=[f.to_dict() for f in failures],
            diff=diff.summary() if diff else None,
        )
        self.failures = failures
        self.current = current
        self.proposed = proposed
        self.diff = diff
        self.report = report


def enforce_gates(
    policy: GatePolicy,
    store: Store,
    parent: Manifest | None,
    proposed: Manifest,
    report: RunReport,
) -> None:
    """The hook :func:`~indexer.build.run_index` calls before writing ``proposed``.

    Raises :class:`PromotionRefused` (with the diff from ``parent``, when it can be read).
    """
    failures = check_gates(
        parent,
        proposed.collections,
        report.collections,
        max_rejected_share=policy.max_rejected_share,
        max_drop_share=policy.max_drop_share,
    )
    if not failures:
        return
    from indexer.snapshots import diff_manifests

    try:
        diff: ManifestDiff | None = diff_manifests(store, parent, proposed, proposed=True)
    except StoreError:
        diff = None  # the refusal matters more than its illustration
    raise PromotionRefused(
        failures,
        current=parent.manifest_id if parent else None,
        proposed=proposed.manifest_id,
        diff=diff,
        report=report,
    )
