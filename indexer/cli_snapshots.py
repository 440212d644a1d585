"""``playbooks snapshots …`` and the promotion-gate flags of ``playbooks index``.

A thin layer over :mod:`indexer.snapshots` and :mod:`indexer.gates`: parse, call, render a
table (or ``--json``). Errors are the library's domain errors; ``indexer.cli.main`` turns
them into one line and exit code 1 (2 for configuration). ``python -m indexer.cli_snapshots``
runs the same commands on their own.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from indexer.errors import PlaybookError
from indexer.gates import (
    DEFAULT_MAX_DROP_SHARE,
    DEFAULT_MAX_REJECTED_SHARE,
    GatePolicy,
    PromotionRefused,
)
from indexer.settings import SETTINGS_BY_NAME, load_settings

if TYPE_CHECKING:  # the commands import the library when they run: `playbooks` starts fast
    from indexer.snapshots import CollectionDiff, ManifestDiff
    from indexer.store import Store

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # as in indexer.cli
_FMT = argparse.RawDescriptionHelpFormatter
_REFS = (
    "REF is a manifest id, a unique prefix of one, CURRENT, or CURRENT~N "
    "(N manifests back along CURRENT's history)."
)


# ----- gate flags for `playbooks index` ---------------------------------------------------
def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a share from 0 to 1, got {text!r}")
    return value


def add_gate_flags(index_parser: argparse.ArgumentParser) -> None:
    """Add ``--no-gates``, ``--max-rejected-share`` and ``--max-drop-share``."""
    g = index_parser.add_argument_group(
        "promotion gates",
        "Before CURRENT moves, refuse a manifest (exit 1, CURRENT unchanged, diff printed) "
        "in which validation rejected, or the run dropped, too large a share of a collection.",
    )
    g.add_argument(
        "--no-gates",
        action="store_true",
        dest="no_gates",
        help="commit even when a gate fails (e.g. a deliberate large removal)",
    )
    g.add_argument(
        "--max-rejected-share",
        type=_share,
        metavar="SHARE",
        help="refuse when more than this share of a rebuilt collection's version "
        f"folders is rejected (default {DEFAULT_MAX_REJECTED_SHARE})",
    )
    g.add_argument(
        "--max-drop-share",
        type=_share,
        metavar="SHARE",
        help="refuse when a collection loses more than this share of its playbook "
        f"versions, or disappears (default {DEFAULT_MAX_DROP_SHARE})",
    )


def gate_policy(args: argparse.Namespace) -> GatePolicy | None:
    """The policy the flags ask for; None with ``--no-gates``."""
    if getattr(args, "no_gates", False):
        return None
    rejected = getattr(args, "max_rejected_share", None)
    dropped = getattr(args, "max_drop_share", None)
    return GatePolicy(
        DEFAULT_MAX_REJECTED_SHARE if rejected is None else rejected,
        DEFAULT_MAX_DROP_SHARE if dropped is None else dropped,
    )


def render_refusal(exc: PromotionRefused) -> str:
    """What ``playbooks index`` prints when a gate refuses: why, the diff, what to do."""
    lines = [
        f"promotion refused: CURRENT stays at {exc.current or '(empty store)'}; "
        f"manifest {exc.proposed} was not written",
        "",
    ]
    lines += [f"  ✗ {f.message}" for f in exc.failures]
    if exc.diff is not None:
        lines += ["", render_diff(exc.diff, limit=10)]
    lines += [
        "",
        "fix the sources, or rerun with --no-gates (or a higher "
        "--max-rejected-share / --max-drop-share) to commit anyway",
    ]
    return "\n".join(lines)


# ----- rendering --------------------------------------------------------------------------
def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    out = []
    for r in cells:
        out.append(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(out)


def _when(created_at: str) -> str:
    return created_at[:19].replace("T", " ") + "Z" if created_at else "?"


def _listing(items: list[str], limit: int | None) -> list[str]:
    shown = items if limit is None else items[:limit]
    more = len(items) - len(shown)
    return shown + ([f"… and {more} more (--all shows every line)"] if more else [])


def _render_collection(c: CollectionDiff, limit: int | None) -> list[str]:
    if c.change == "added":
        return [f"{c.collection}: added ({c.new_snapshot}, {c.new_rows} versions)"]
    if c.change == "removed":
        return [f"{c.collection}: removed (was {c.old_snapshot}, {c.old_rows} versions)"]
    head = (
        f"{c.collection}: {c.old_snapshot} -> {c.new_snapshot}, {c.old_rows} -> "
        f"{c.new_rows} versions: {len(c.added)} added, {len(c.removed)} removed, "
        f"{len(c.changed)} changed, {len(c.status_changes)} status changes"
    )
    items = [f"+ {p} v{v}" for p, v in c.added] + [f"- {p} v{v}" for p, v in c.removed]
    items += [f"~ {x.playbook_id} v{x.version}: {', '.join(x.fields)}" for x in c.changed]
    items += [
        f"! {s.playbook_id} v{s.version}: status {s.old} -> {s.new}" for s in c.status_changes
    ]
    return [head] + [f"    {line}" for line in _listing(items, limit)]


def render_diff(d: ManifestDiff, limit: int | None = 20) -> str:
    lines = [f"diff {d.old or '(empty store)'} -> {d.new}{' (proposed)' if d.proposed else ''}"]
    if not d.collections:
        lines.append("  no collection differs")
    for c in d.collections:
        lines += [f"  {line}" for line in _render_collection(c, limit)]
    if d.unchanged:
        lines.append(f"  unchanged: {', '.join(d.unchanged)}")
    return "\n".join(lines)


# ----- commands ---------------------------------------------------------------------------
def _store(args: argparse.Namespace) -> Store:
    from indexer.blobs import open_blobs
    from indexer.store import Store

    settings = load_settings({"store": args.store, "endpoint_url": args.endpoint_url})
    return Store(open_blobs(settings.store, settings.endpoint_url))


def _emit(args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    print(json.dumps(data, indent=2, default=str) if args.json else text())


def _cmd_list(args: argparse.Namespace) -> int:
    from indexer.snapshots import list_manifests

    items = list_manifests(_store(args), limit=args.limit)
    rows = [
        [
            ("* " if s.is_current else "  ") + s.manifest_id,
            _when(s.created_at),
            s.parent or "-",
            s.collections,
            s.rows,
            s.rejected,
            ",".join(
                x
                for x in (
                    "pinned" if s.pinned else "",
                    s.tool.split()[-1] if s.tool else "",
                    "UNREADABLE" if s.problem else "",
                )
                if x
            ),
        ]
        for s in items
    ]
    _emit(
        args,
        [s.to_dict() for s in items],
        lambda: (
            _table(
                ["  manifest", "created (UTC)", "parent", "colls", "rows", "rejected", "notes"],
                rows,
                right={3, 4, 5},
            )
            + "\n(* = CURRENT)"
            if items
            else "no manifests in the store"
        ),
    )
    return EXIT_OK


def _cmd_show(args: argparse.Namespace) -> int:
    from indexer.snapshots import show

    d = show(_store(args), args.ref, verify=args.verify)
    m = d.manifest

    def text() -> str:
        by = m.created_by
        flags = [x for x in ("CURRENT" if d.is_current else "", "pinned" if d.pin else "") if x]
        lines = [
            f"manifest  {m.manifest_id}{' (' + ', '.join(flags) + ')' if flags else ''}",
            f"created   {_when(m.created_at)} by {by.get('tool', '?')} "
            f"({by.get('user', '?')}@{by.get('host', '?')})",
            f"parent    {m.parent or '-'}",
            f"model     {m.model.name} ({m.model.dimension}-d, {m.model.weights_sha256[:12]})",
        ]
        if m.report.get("rollback"):
            rb = m.report["rollback"]
            lines.append(
                f"rollback  to {rb.get('to')}"
                f"{' (collection ' + rb['collection'] + ')' if rb.get('collection') else ''}"
            )
        rows = [
            [name, r.snapshot_id, r.rows, r.rejected]
            + ([d.verified.get(name, "")] if d.verified is not None else [])
            for name, r in sorted(m.collections.items())
        ]
        headers = ["collection", "snapshot", "rows", "rejected"]
        headers += ["verified"] if d.verified is not None else []
        return "\n".join(lines) + "\n\n" + _table(headers, rows, right={2, 3})

    _emit(args, d.to_dict(), text)
    bad = d.verified is not None and any(v != "ok" for v in d.verified.values())
    return EXIT_FAILED if bad else EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from indexer.snapshots import diff

    d = diff(_store(args), args.a, args.b)
    _emit(args, d.to_dict(), lambda: render_diff(d, None if args.all else 20))
    return EXIT_OK


def _cmd_rollback(args: argparse.Namespace) -> int:
    from indexer.snapshots import rollback

    r = rollback(_store(args), args.to, args.collection, dry_run=args.dry_run)

    def text() -> str:
        scope = f"collection {r.collection}" if r.collection else "every collection"
        if not r.changed:
            return f"nothing to do: CURRENT ({r.parent}) already serves {scope} as {r.target}"
        if r.diff is not None:
            return (
                f"dry run: would commit a manifest rolling back {scope} to {r.target}\n"
                + render_diff(r.diff, None if args.all else 20)
            )
        return (
            f"committed {r.manifest_id} (parent {r.parent or '-'}): {scope} as in "
            f"{r.target}; changed {', '.join(r.changed)}\n"
            f"see: playbooks snapshots diff CURRENT~1 CURRENT"
        )

    _emit(args, r.to_dict(), text)
    return EXIT_OK


def _cmd_pin(args: argparse.Namespace) -> int:
    from indexer.snapshots import pin

    r = pin(_store(args), args.ref, note=args.note or "")
    _emit(
        args,
        {"manifest_id": r.manifest_id, "pinned": True, "changed": r.changed},
        lambda: f"{'pinned' if r.changed else 'already pinned'}: {r.manifest_id}",
    )
    return EXIT_OK


def _cmd_unpin(args: argparse.Namespace) -> int:
    from indexer.snapshots import unpin

    r = unpin(_store(args), args.ref)
    _emit(
        args,
        {"manifest_id": r.manifest_id, "pinned": False, "changed": True},
        lambda: f"unpinned: {r.manifest_id}",
    )
    return EXIT_OK


def _cmd_gc(args: argparse.Namespace) -> int:
    from indexer.snapshots import gc

    given: dict[str, Any] = {
        k: getattr(args, k) for k in ("keep_last", "keep_days") if getattr(args, k) is not None
    }
    if args.grace_hours is not None:
        given["grace"] = timedelta(hours=args.grace_hours)
    rep = gc(_store(args), dry_run=args.dry_run, **given)

    def text() -> str:
        verb = "would delete" if rep.dry_run else "deleted"
        lines = [f"kept {len(rep.kept_manifests)} manifests:"]
        lines += [f"  {mid}  ({', '.join(why)})" for mid, why in rep.kept_manifests.items()]
        lines.append(f"{verb} {len(rep.deleted_manifests)} manifests")
        lines += [f"  {mid}" for mid in rep.deleted_manifests]
        lines.append(f"{verb} {len(rep.deleted_snapshots)} snapshot folders")
        lines += [f"  {s.collection}/{s.snapshot_id}" for s in rep.deleted_snapshots]
        lines.append(f"kept {rep.kept_snapshots} snapshot folders named by kept manifests")
        if rep.recent_snapshots:
            lines.append(
                f"left {len(rep.recent_snapshots)} unnamed snapshot folders younger "
                "than the grace period (an index run may be committing them)"
            )
        if rep.unrecognised:
            lines.append(
                f"left {len(rep.unrecognised)} folders that are not snapshots: "
                + ", ".join(rep.unrecognised)
            )
        lines.append(f"{verb} {len(rep.deleted_models)} query model folders")
        lines += [f"  {key}" for key in rep.deleted_models]
        lines.append(f"kept {rep.kept_models} query model folders named by kept manifests")
        if rep.recent_models:
            lines.append(
                f"left {len(rep.recent_models)} unnamed query model folders younger than "
                "the grace period"
            )
        return "\n".join(lines)

    _emit(args, rep.to_dict(), text)
    return EXIT_OK


def _non_negative(cast: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
        return value

    return parse


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``snapshots`` and its commands to the ``playbooks`` sub-parsers.

    Each command sets ``args.snapshots_handler``; :func:`run` calls it.
    """
    top = subparsers.add_parser(
        "snapshots",
        help="list, inspect, diff, roll back, pin and garbage-collect manifests",
        formatter_class=_FMT,
        description="Operate on the store's manifests and snapshots. Every change is a new "
        "manifest committed by compare-and-swap; nothing is edited in place.\n" + _REFS,
        epilog="examples:\n  playbooks snapshots list\n  playbooks snapshots diff CURRENT~1 "
        "CURRENT\n  playbooks snapshots rollback --to CURRENT~1 --collection "
        "tenant_acme_playbooks\n  playbooks snapshots gc --keep-last 10 --keep-days 30 "
        "--dry-run",
    )
    sub = top.add_subparsers(dest="snapshots_command", metavar="COMMAND", required=True)

    def command(
        name: str,
        help_: str,
        examples: str,
        handler: Callable[..., int],
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_[0].upper() + help_[1:] + ". " + _REFS,
            epilog="examples:\n" + examples,
            formatter_class=_FMT,
        )
        s = SETTINGS_BY_NAME
        p.add_argument("--store", help=f"{s['store'].help} [env {s['store'].env}]")
        p.add_argument(
            "--endpoint-url",
            dest="endpoint_url",
            help=f"{s['endpoint_url'].help} [env {s['endpoint_url'].env}]",
        )
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
        p.set_defaults(snapshots_handler=handler)
        return p

    p = command(
        "list",
        "list manifests, newest first: time, parent, counts, flags",
        "  playbooks snapshots list\n  playbooks snapshots list --limit 5 --store "
        "s3://escher-index",
        _cmd_list,
    )
    p.add_argument("--limit", type=int, default=None, help="show only the newest N")
    p = command(
        "show",
        "show one manifest: its collections, snapshots and provenance",
        "  playbooks snapshots show CURRENT\n  playbooks snapshots show m-2025 --verify",
        _cmd_show,
    )
    p.add_argument("ref", metavar="REF")
    p.add_argument(
        "--verify",
        action="store_true",
        help="load every snapshot and check its checksums (exit 1 on a mismatch)",
    )
    p = command(
        "diff",
        "diff two manifests per collection: playbook versions added, removed, "
        "changed, status changes",
        "  playbooks snapshots diff CURRENT~1 CURRENT\n"
        "  playbooks snapshots diff CURRENT        # against its parent",
        _cmd_diff,
    )
    p.add_argument("a", metavar="A", help="the older manifest (alone: diff its parent -> A)")
    p.add_argument("b", metavar="B", nargs="?", help="the newer manifest")
    p.add_argument("--all", action="store_true", help="list every version, not the first 20")
    p = command(
        "rollback",
        "roll back the whole store or one collection by committing a new manifest",
        "  playbooks snapshots rollback --to CURRENT~1\n  playbooks "
        "snapshots rollback --to m-20250101T02 --collection tenant_acme_playbooks "
        "--dry-run",
        _cmd_rollback,
    )
    p.add_argument("--to", required=True, metavar="REF", help="the manifest to go back to")
    p.add_argument(
        "--collection",
        metavar="NAME",
        help="roll back only this collection; the others stay as they are",
    )
    p.add_argument("--dry-run", action="store_true", help="show the diff, commit nothing")
    p.add_argument("--all", action="store_true", help="with --dry-run: list every version")
    p = command(
        "pin",
        "pin a manifest so gc never removes it or its snapshots",
        "  playbooks snapshots pin CURRENT --note 'before the 2.0 migration'",
        _cmd_pin,
    )
    p.add_argument("ref", metavar="REF")
    p.add_argument("--note", help="why it is pinned (kept in the pin marker)")
    p = command(
        "unpin", "remove a pin", "  playbooks snapshots unpin m-20250101T020000", _cmd_unpin
    )
    p.add_argument("ref", metavar="REF")
    p = command(
        "gc",
        "delete manifests outside retention and snapshot folders no kept manifest names",
        "  playbooks snapshots gc --dry-run\n  playbooks snapshots gc --keep-last 5 --keep-days 7",
        _cmd_gc,
    )
    p.add_argument(
        "--keep-last",
        type=_non_negative(int),
        metavar="N",
        help="keep the newest N manifests of CURRENT's history (default 10)",
    )
    p.add_argument(
        "--keep-days",
        type=_non_negative(float),
        metavar="D",
        help="keep manifests younger than D days (default 30); pinned ones and CURRENT are "
        "always kept",
    )
    p.add_argument(
        "--grace-hours",
        type=_non_negative(float),
        metavar="H",
        help="leave unnamed snapshot folders younger than H hours (default 1)",
    )
    p.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    return top


def run(args: argparse.Namespace) -> int:
    """Run the ``snapshots`` command that :func:`register` parsed into ``args``."""
    handler: Callable[[argparse.Namespace], int] = args.snapshots_handler
    return handler(args)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m indexer.cli_snapshots COMMAND …``: the same commands without ``playbooks``."""
    parser = argparse.ArgumentParser(prog="playbooks")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return run(args)
    except PlaybookError as exc:
        print(f"playbooks snapshots: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.code == "config_error" else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
