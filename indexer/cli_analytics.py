"""``playbooks sql`` and ``playbooks stats``: DuckDB over the store, for analysts.

A thin layer over :mod:`indexer.analytics`. :func:`register` adds both subcommands to the
``playbooks`` parser; each sets ``handler`` to a function ``(args) -> exit code`` that
raises :class:`~indexer.errors.PlaybookError` subclasses (bad SQL is ``BadRequest``, a
missing manifest ``NotFound``), which the main CLI turns into one-line messages.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import duckdb

from indexer.analytics import VIEWS, open_analytics, stats
from indexer.errors import BadRequest, PlaybookError, StoreError
from indexer.settings import SETTINGS_BY_NAME, load_settings

FORMATS = ("table", "csv", "json")
MAX_CELL = 60  # table cells are cut here (csv and json are never cut)
_NUMERIC = {
    "tinyint",
    "smallint",
    "integer",
    "bigint",
    "hugeint",
    "utinyint",
    "usmallint",
    "uinteger",
    "ubigint",
    "uhugeint",
    "float",
    "double",
    "decimal",
}
_SHELL_HELP = """\
End a statement with ';'. Views: {views}.
  .tables              list the views
  .schema NAME         columns and types of a view
  .format table|csv|json
  .help                this text
  .quit                leave (or end of input)"""


def _flag_help(name: str, extra: str = "") -> str:
    s = SETTINGS_BY_NAME[name]
    return f"{extra or s.help} [env {s.env}]"


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help=_flag_help("store"))
    p.add_argument("--endpoint-url", dest="endpoint_url", help=_flag_help("endpoint_url"))
    p.add_argument(
        "--manifest",
        metavar="ID",
        help=_flag_help("manifest", "Query this manifest id instead of the one CURRENT names."),
    )


def register(subparsers: Any) -> None:
    """Add ``sql`` and ``stats`` to the ``playbooks`` subparsers (``add_subparsers()``)."""
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "sql",
        help="query the store with DuckDB SQL (one query, or a shell)",
        formatter_class=fmt,
        description="Open DuckDB with these views over the store's live manifest (or "
        "--manifest):\n"
        + "".join(f"  {k:<18}{v}\n" for k, v in VIEWS.items())
        + "With QUERY, print its result; without, read statements (ending in ';') from\n"
        "the terminal or a pipe.",
        epilog="examples:\n"
        '  playbooks sql "select collection, status, count(*) from playbooks '
        'group by all order by all"\n'
        '  playbooks sql "select * from rejections" --format csv > rejections.csv\n'
        '  playbooks sql "describe playbooks" --format json\n'
        "  playbooks sql --store s3://escher-index --endpoint-url "
        "http://127.0.0.1:5000\n"
        '  echo "select count(*) from queries;" | playbooks sql',
    )
    p.add_argument("query", nargs="?", help="SQL to run; omit it for the interactive shell")
    p.add_argument(
        "--format", choices=FORMATS, default="table", help="output format (default: table)"
    )
    _add_common(p)
    p.set_defaults(handler=cmd_sql)

    p = subparsers.add_parser(
        "stats",
        help="summarise the store: counts, success rates, freshness, rejections",
        formatter_class=fmt,
        description="Counts by collection, status, cloud provider and author; success rates "
        "by collection and category; how fresh each collection's snapshot is; "
        "what validation rejected; the query log in brief.",
        epilog="examples:\n  playbooks stats\n  playbooks stats --json\n"
        "  playbooks stats --manifest m-20260101T000000000000Z-0123456789ab",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    _add_common(p)
    p.set_defaults(handler=cmd_stats)


def _open(args: argparse.Namespace) -> duckdb.DuckDBPyConnection:
    settings = load_settings(
        {"store": args.store, "endpoint_url": args.endpoint_url, "manifest": args.manifest}
    )
    return open_analytics(settings.store, settings.endpoint_url, settings.manifest)


def cmd_sql(args: argparse.Namespace) -> int:
    con = _open(args)
    try:
        if args.query is not None:
            run_sql(con, args.query, args.format, sys.stdout)
            return 0
        return run_shell(
            con, sys.stdin, sys.stdout, sys.stderr, args.format, interactive=sys.stdin.isatty()
        )
    finally:
        con.close()


def cmd_stats(args: argparse.Namespace) -> int:
    con = _open(args)
    try:
        summary = stats(con)
    finally:
        con.close()
    print(json.dumps(summary, indent=2) if args.json else render_stats(summary))
    return 0


# ----- running SQL -----------------------------------------------------------------------
def sql_error(exc: duckdb.Error) -> PlaybookError:
    """DuckDB's message, first paragraph on one line (the caret diagram is dropped)."""
    lines = []
    for line in str(exc).splitlines():
        if not line.strip() or line.startswith("LINE "):
            break
        lines.append(line.strip())
    message = " ".join(lines) or type(exc).__name__
    return StoreError(message) if isinstance(exc, duckdb.IOException) else BadRequest(message)


def _guard(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except duckdb.Error as exc:
        raise sql_error(exc) from None


def run_sql(
    con: duckdb.DuckDBPyConnection, text: str, fmt: str, out: TextIO, every_result: bool = False
) -> None:
    """Run the statements in ``text``; print the last result (or every one) as ``fmt``."""
    statements = _guard(lambda: con.extract_statements(text))
    if not statements and not every_result:  # the shell ignores a lone ';'
        raise BadRequest("no SQL statement given")
    for i, statement in enumerate(statements):
        try:
            rel = con.sql(statement.query)
            if rel is not None and (every_result or i == len(statements) - 1):
                write_result(rel, fmt, out)
        except duckdb.Error as exc:
            raise sql_error(exc) from None


def write_result(rel: duckdb.DuckDBPyRelation, fmt: str, out: TextIO) -> None:
    """``table``: aligned text; ``csv``: header + rows; ``json``: a list of objects."""
    if fmt == "json":
        projected = rel.project("to_json(COLUMNS(*))")
        keys = [json.dumps(c) for c in projected.columns]
        out.write("[")
        n = 0
        while chunk := projected.fetchmany(1000):
            for row in chunk:
                fields = ", ".join(
                    f"{k}: {'null' if v is None else v}" for k, v in zip(keys, row, strict=True)
                )
                out.write(("," if n else "") + "\n  {" + fields + "}")
                n += 1
        out.write("\n]\n" if n else "]\n")
        return
    text = rel.project("CAST(COLUMNS(*) AS VARCHAR)")
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(text.columns)
        while chunk := text.fetchmany(1000):
            writer.writerows(chunk)
        return
    numeric = [t.id in _NUMERIC for t in rel.types]
    rows = text.fetchall()
    out.write(format_table(text.columns, rows, numeric))
    out.write(f"({len(rows)} row{'' if len(rows) == 1 else 's'})\n")


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    s = str(value).replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return s if len(s) <= MAX_CELL else s[: MAX_CELL - 1] + "…"


def format_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[bool] | None = None
) -> str:
    """Fixed-width text: header, dashes, one line per row; ``right`` aligns numbers."""
    right = right or [False] * len(columns)
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]

    def line(values: Sequence[str], align: Sequence[bool]) -> str:
        parts = [
            v.rjust(w) if a else v.ljust(w) for v, w, a in zip(values, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip() + "\n"

    head = line(columns, [False] * len(columns)) + line(
        ["-" * w for w in widths], [False] * len(columns)
    )
    return head + "".join(line(r, right) for r in cells)


# ----- the shell ---------------------------------------------------------------------------
def statement_complete(text: str) -> bool:
    """True when ``text`` ends with ';' outside quotes and comments."""
    ends, i, n = False, 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            close = text.find(ch, i + 1)
            while close != -1 and text[close + 1 : close + 2] == ch:  # doubled quote
                close = text.find(ch, close + 2)
            if close == -1:
                return False
            i, ends = close + 1, False
            continue
        if text.startswith("--", i):
            newline = text.find("\n", i)
            i = n if newline == -1 else newline
            continue
        if text.startswith("/*", i):
            close = text.find("*/", i + 2)
            if close == -1:
                return False
            i = close + 2
            continue
        if not ch.isspace():
            ends = ch == ";"
        i += 1
    return ends


def _read_line(stdin: TextIO, prompt: str | None) -> str | None:
    if prompt is not None:  # a terminal: input() gives line editing and history
        try:
            return input(prompt)
        except EOFError:
            return None
    line = stdin.readline()
    return line.rstrip("\n") if line else None


def run_shell(
    con: duckdb.DuckDBPyConnection,
    stdin: TextIO,
    out: TextIO,
    err: TextIO,
    fmt: str = "table",
    interactive: bool = False,
) -> int:
    """Read statements until ``.quit`` or end of input, printing each result.

    A failing statement prints ``error: ...`` on ``err`` and the shell goes on; when input
    is not a terminal, the exit code is then 1 (so scripts notice), else 0.
    """
    failed = False
    buffer: list[str] = []
    if interactive:
        out.write(_SHELL_HELP.format(views=", ".join(VIEWS)) + "\n")

    def run(text: str) -> None:
        nonlocal failed
        try:
            run_sql(con, text, fmt, out, every_result=True)
        except PlaybookError as exc:
            err.write(f"error: {exc.message}\n")
            failed = True
        except KeyboardInterrupt:
            err.write("interrupted\n")

    while True:
        prompt = ("playbooks> " if not buffer else "      ...> ") if interactive else None
        try:
            line = _read_line(stdin, prompt)
        except KeyboardInterrupt:
            buffer.clear()
            out.write("\n")
            continue
        if line is None:
            break
        if not buffer and line.strip().startswith("."):
            words = line.split()
            if words[0] in (".quit", ".exit"):
                break
            try:
                fmt = _dot_command(con, words, fmt, out)
            except PlaybookError as exc:
                err.write(f"error: {exc.message}\n")
                failed = True
            continue
        buffer.append(line)
        text = "\n".join(buffer)
        if statement_complete(text):
            buffer.clear()
            run(text)
    if "\n".join(buffer).strip():  # a last statement without ';' at end of input
        run("\n".join(buffer))
    return 1 if failed and not interactive else 0


def _dot_command(
    con: duckdb.DuckDBPyConnection, words: Sequence[str], fmt: str, out: TextIO
) -> str:
    command, rest = words[0], list(words[1:])
    if command == ".help":
        out.write(_SHELL_HELP.format(views=", ".join(VIEWS)) + "\n")
    elif command == ".tables":
        names = [r[0] for r in con.execute("SHOW TABLES").fetchall()]
        out.write(format_table(["name", "description"], [(n, VIEWS.get(n, "")) for n in names]))
    elif command == ".schema" and len(rest) == 1:
        name = rest[0].rstrip(";").replace('"', '""')
        rows = _guard(lambda: con.execute(f'DESCRIBE "{name}"').fetchall())
        out.write(format_table(["column", "type"], [r[:2] for r in rows]))
    elif command == ".format" and len(rest) == 1 and rest[0] in FORMATS:
        return rest[0]
    else:
        raise BadRequest(f"cannot run {' '.join(words)!r}; .help lists the commands")
    return fmt


# ----- stats -----------------------------------------------------------------------------
def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(max(seconds, 0))
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if s >= size:
            rem = (s % size) // sub_size
            return f"{s // size}{unit}" + (f" {rem}{sub}" if rem else "")
    return f"{s // 60}m" if s >= 60 else f"{s}s"


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _inline(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "-"


def render_stats(s: dict[str, Any]) -> str:
    """The human summary printed by ``playbooks stats``."""
    m, t, counts = s["manifest"], s["totals"], s["counts"]
    rates, fresh, rej = s["success_rates"], s["freshness"], s["rejections"]
    lines = [
        f"store      {s['store']}",
        f"manifest   {m['manifest_id']} (created {m['created_at']}"
        f"{', CURRENT' if m['is_current'] else ', not CURRENT'})",
        f"playbooks  {t['versions']} versions of {t['playbooks']} playbooks in "
        f"{t['collections']} collections; {t['searchable']} searchable; "
        f"{rej['total']} folders rejected",
        "",
    ]
    rows = []
    for name, c in counts["by_collection"].items():
        f, r = fresh[name], rates["by_collection"][name]
        rows.append(
            [
                name,
                c["tenant_id"] or "-",
                c["versions"],
                c["playbooks"],
                c["searchable"],
                r["executions"],
                _pct(r["success_rate"]),
                f["snapshot_created_at"] or "-",
                _age(f["age_seconds"]),
                (f["newest_updated_at"] or "-")[:10],
                rej["by_collection"].get(name, {}).get("count", 0),
            ]
        )
    lines.append(
        format_table(
            [
                "collection",
                "tenant",
                "versions",
                "playbooks",
                "searchable",
                "executions",
                "success",
                "snapshot created",
                "age",
                "newest update",
                "rejected",
            ],
            rows,
            [False, False, True, True, True, True, True, False, True, False, True],
        ).rstrip("\n")
    )
    lines += [
        "",
        f"status     {_inline(counts['by_status'])}",
        f"provider   {_inline(counts['by_provider'])}",
        f"author     {_inline(counts['by_author'])}",
        "",
        "success rate by category",
    ]
    cat_rows = [
        [k, r["executions"], r["successes"], _pct(r["success_rate"])]
        for k, r in [*rates["by_category"].items(), ("(all)", rates["overall"])]
    ]
    lines.append(
        format_table(
            ["category", "executions", "successes", "rate"], cat_rows, [False, True, True, True]
        ).rstrip("\n")
    )
    if rej["total"]:
        lines += ["", f"rejections ({rej['total']})"]
        for name, r in rej["by_collection"].items():
            lines.append(f"  {name}: {r['count']}")
            lines += [f"    {x['folder']}: {x['field']}: {x['reason']}" for x in r["first"]]
            if r["count"] > len(r["first"]):
                lines.append(
                    f"    ... {r['count'] - len(r['first'])} more "
                    '(playbooks sql "select * from rejections")'
                )
    q = s["queries"]
    lines.append("")
    if q["count"]:
        ms = [
            ("-" if v is None else f"{v:.0f} ms")
            for v in (q["latency_p50_ms"], q["latency_p95_ms"])
        ]
        lines.append(
            f"queries    {q['count']} logged, {q['errors']} errors, latency p50 "
            f"{ms[0]}, p95 {ms[1]}, {q['first']} .. {q['last']}"
        )
    else:
        lines.append("queries    none logged")
    return "\n".join(lines)
