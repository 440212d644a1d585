"""``playbooks``: the one command-line entry point (index, serve, search).

A thin layer: it reads settings (flags > ``PLAYBOOKS_*`` environment > defaults), calls
the library, and turns domain errors into a one-line message and an exit code:
0 success, 1 the job could not finish (e.g. CURRENT could not be moved), 2 bad usage or
configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from typing import Any

from indexer import cli_analytics, cli_eval, cli_snapshots
from indexer.errors import PlaybookError
from indexer.gates import PromotionRefused
from indexer.settings import SETTINGS_BY_NAME, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _help(name: str) -> str:
    s = SETTINGS_BY_NAME[name]
    return f"{s.help} [env {s.env}]"


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", help=_help("store"))
    p.add_argument("--endpoint-url", dest="endpoint_url", help=_help("endpoint_url"))


def _parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="playbooks",
        description="Search over cloud-automation playbooks: index sources into a store, "
        "serve it, search it.",
        epilog="examples:\n  playbooks index\n  playbooks serve --port 8000\n"
        "  playbooks search 'stop production RDS for the weekend' --tenant acme\n\n"
        "Every flag also reads PLAYBOOKS_<NAME> from the environment.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser(
        "index",
        help="crawl, validate and embed playbooks; commit a new manifest",
        formatter_class=fmt,
        description="Crawl the library and tenant sources, validate every playbook version "
        "folder, embed it, write one snapshot per changed collection and move "
        "manifests/CURRENT (compare-and-swap). Bad folders are reported and left "
        "out; the rest is indexed.",
        epilog="examples:\n"
        "  playbooks index                                   # bundled samples -> ./\n"
        "  playbooks index --library ../shared/corpus/real-runbooks/escher-library\n"
        "  playbooks index --library s3://escher-library --tenants "
        "s3://escher-tenant-data \\\n"
        "      --store s3://escher-index --endpoint-url http://127.0.0.1:5000\n"
        "  playbooks index --tenant acme --no-library        # on-publish: one tenant",
    )
    _add_store(p)
    p.add_argument("--library", action="append", help=_help("library") + " Repeatable.")
    p.add_argument("--tenants", action="append", help=_help("tenants") + " Repeatable.")
    p.add_argument(
        "--tenant",
        action="append",
        dest="only_tenants",
        metavar="ID",
        help="index only this tenant (repeatable); other collections are kept",
    )
    p.add_argument(
        "--no-library",
        action="store_true",
        help="do not look at the library sources (keep its snapshot as is)",
    )
    p.add_argument("--json", action="store_true", help="print the run report as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    cli_snapshots.add_gate_flags(p)

    p = sub.add_parser(
        "serve",
        help="run the search server (Starlette on uvicorn)",
        formatter_class=fmt,
        description="Serve POST /api/playbook/search over the store's live manifest.",
        epilog="example:\n  PLAYBOOKS_API_KEYS='demo-key-acme-0001=acme' playbooks serve "
        "--port 8000",
    )
    _add_store(p)
    p.add_argument("--host", help=_help("host"))
    p.add_argument("--port", type=int, help=_help("port"))
    p.add_argument("--workers", type=int, help=_help("workers"))
    p.add_argument("--manifest", help=_help("manifest"))

    p = sub.add_parser(
        "search",
        help="search a store without a server",
        formatter_class=fmt,
        description="Answer a query from the store's live manifest, through the same search "
        "path the server uses.",
        epilog="examples:\n  playbooks search 'stop production RDS for weekend' --tenant acme\n"
        "  playbooks search 'rotate key vault secret' --cloud azure --json",
    )
    _add_store(p)
    p.add_argument("query")
    p.add_argument("--tenant", help="search the library plus this tenant's playbooks")
    p.add_argument("--limit", type=int, default=None, help="results to return (default 5)")
    p.add_argument(
        "--cloud",
        action="append",
        dest="cloud_provider",
        metavar="PROVIDER",
        help="filter: cloud provider (repeatable)",
    )
    p.add_argument(
        "--resource-type",
        action="append",
        dest="resource_types",
        metavar="TYPE",
        help="filter: resource type such as rds::instance (repeatable)",
    )
    p.add_argument("--manifest", help=_help("manifest"))
    p.add_argument("--explain", action="store_true", help="include the score breakdown")
    p.add_argument(
        "--rerank",
        action="store_true",
        help="run the optional LLM pass (needs PLAYBOOKS_LLM_PROVIDER etc.)",
    )
    p.add_argument("--json", action="store_true", help="print the full JSON response")

    cli_snapshots.register(sub)
    cli_analytics.register(sub)
    cli_eval.register(sub)
    from serve import tokens as serve_tokens

    serve_tokens.register_cli(sub)
    return parser


def _settings(args: argparse.Namespace, names: Sequence[str]) -> Settings:
    overrides: dict[str, Any] = {}
    for name in names:
        value = getattr(args, name, None)
        if value is None:
            continue
        if isinstance(value, list):
            value = ",".join(value)
        overrides[name] = str(value)
    return load_settings(overrides)


def _cmd_index(args: argparse.Namespace) -> int:
    from indexer.blobs import open_blobs
    from indexer.build import run_index
    from indexer.embed import Embedder
    from indexer.query_model import QueryModelPlan
    from indexer.store import Store

    settings = _settings(args, ["store", "library", "tenants", "endpoint_url"])
    ep = settings.endpoint_url
    store = Store(open_blobs(settings.store, ep))
    library = [open_blobs(x, ep) for x in settings.library]
    tenants = [open_blobs(x, ep) for x in settings.tenants]

    def progress(msg: str) -> None:
        if not args.quiet:
            print(f"[index] {msg}", file=sys.stderr, flush=True)

    embedder = Embedder(settings.model_path, settings.embed_batch_size)
    report = run_index(
        store=store,
        library=library,
        tenants=tenants,
        embedder=embedder,
        include_library=not args.no_library,
        only_tenants=args.only_tenants,
        progress=progress,
        gates=cli_snapshots.gate_policy(args),
        hnsw_min_rows=settings.hnsw_min_rows,
        query_model=QueryModelPlan.from_settings(settings),
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(render_report(report.to_dict()))
    return EXIT_OK if report.committed else EXIT_FAILED


def render_report(r: dict[str, Any]) -> str:
    """The human summary of an index run."""
    lines = [
        f"store     {r['store']}",
        f"manifest  {r['manifest_id']} (parent {r['parent'] or '-'}; "
        f"{'unchanged' if r['unchanged'] else 'committed' if r['committed'] else 'NOT committed'}"
        f"{', rebased onto ' + ', '.join(r['rebased_onto']) if r['rebased_onto'] else ''})",
        f"seen {r['seen']}  indexed {r['indexed']}  reused {r['reused']}  "
        f"embedded {r['embedded']}  rejected {r['rejected']}  in {r['seconds']:.1f}s",
        "",
        f"{'collection':<40} {'action':<8} {'seen':>6} {'indexed':>8} {'embedded':>9} "
        f"{'rejected':>9}",
    ]
    for name, c in r["collections"].items():
        lines.append(
            f"{name:<40} {c['action']:<8} {c['seen']:>6} {c['indexed']:>8} "
            f"{c['embedded']:>9} {len(c['rejected']):>9}"
        )
    rejected = [(n, x) for n, c in r["collections"].items() for x in c["rejected"]]
    if rejected:
        lines += ["", "rejected:"]
        for _name, x in rejected:
            lines.append(f"  {x['folder']}: {x['field']}: {x['reason']}")
    return "\n".join(lines)


def _cmd_serve(args: argparse.Namespace) -> int:
    from serve.app import run

    run(_settings(args, ["store", "endpoint_url", "host", "port", "workers", "manifest"]))
    return EXIT_OK


def _cmd_search(args: argparse.Namespace) -> int:
    from serve.local import search_store

    settings = _settings(args, ["store", "endpoint_url", "manifest"])
    body: dict[str, Any] = {"query": args.query}
    filters = {
        k: getattr(args, k) for k in ("cloud_provider", "resource_types") if getattr(args, k)
    }
    if filters:
        body["filters"] = filters
    if args.limit is not None:
        body["limit"] = args.limit
    if args.explain:
        body["explain"] = True
    if args.rerank:
        body["rerank"] = True
    response = search_store(settings, body, tenant=args.tenant)
    if args.json:
        print(json.dumps(response, indent=2, default=str))
        return EXIT_OK
    print(
        f"{len(response['results'])} results from {response['manifest_id']} "
        f"for {response['query']!r}"
    )
    if args.rerank:
        for key in ("llm_intent", "rerank"):
            step = response.get(key) or {}
            print(
                f"llm {key}: {step.get('status')}"
                + (f" ({step['detail']})" if step.get("detail") else "")
            )
    for r in response["results"]:
        meta = r["metadata"]
        print(
            f"{r['rank']:>2}. {r['playbook_id']} v{r['version']}  [{r['source']}, "
            f"{r['status']}]  confidence {r['confidence']:.2f}"
        )
        print(f"    {meta['name']}: {r['reason']}")
        for w in r.get("warnings", []):
            print(f"    ! {w}")
    return EXIT_OK


def _cmd_token(args: argparse.Namespace) -> int:
    from serve import tokens as serve_tokens

    return int(serve_tokens.run_cli(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    handlers = {
        "index": _cmd_index,
        "serve": _cmd_serve,
        "search": _cmd_search,
        "snapshots": cli_snapshots.run,
        "sql": cli_analytics.cmd_sql,
        "stats": cli_analytics.cmd_stats,
        "token": _cmd_token,
        "eval": cli_eval.run,
    }
    try:
        return handlers[args.command](args)
    except PromotionRefused as exc:
        print(cli_snapshots.render_refusal(exc), file=sys.stderr)
        return EXIT_FAILED
    except PlaybookError as exc:
        print(f"playbooks {args.command}: error: {exc.message}", file=sys.stderr)
        return EXIT_USAGE if exc.code == "config_error" else EXIT_FAILED
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
