"""``playbooks eval``: relevance metrics of labelled queries against a store.

A thin layer over :mod:`serve.evaluate`: it loads the store's live (or pinned) manifest
through :class:`serve.local.LocalSearcher` (the server's loading and checks), runs every
query through the server's search path, writes RESULTS.jsonl when asked, saves the
metrics file (with the previous run's numbers for comparison) and prints the table.
``--rerank`` asks every query for the optional LLM pass, configured by ``PLAYBOOKS_LLM_*``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from serve.fusion import DEFAULT_FUSION, FUSIONS
from serve.request import MODES


def register(sub: Any) -> None:
    """Add the ``eval`` command to the ``playbooks`` sub-parsers."""
    p = sub.add_parser(
        "eval",
        help="relevance metrics (NDCG/Recall/MRR@10) of labelled queries",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run each labelled query (JSONL: query, filters, relevant, tenant) "
        "through the server's search path and print NDCG@10, Recall@10, MRR@10, "
        "the zero-result rate and the no-match hit / false-fire rates, overall, "
        "per kind and per query. The metrics are saved to a file; the previous "
        "run's numbers in that file are shown for comparison.",
        epilog="examples:\n"
        "  playbooks eval bench/relevance/real_runbooks.jsonl --store /tmp/rel-real\n"
        "  playbooks eval bench/relevance/tenant_scenarios.jsonl --store /tmp/samples "
        "--mode vector --out /tmp/results.jsonl\n"
        "  PLAYBOOKS_LLM_PROVIDER=openai PLAYBOOKS_LLM_BASE_URL=http://127.0.0.1:11434 "
        "PLAYBOOKS_LLM_MODEL=qwen2.5:7b-instruct \\\n"
        "    playbooks eval bench/relevance/real_runbooks.jsonl --store /tmp/rel-real --rerank",
    )
    p.add_argument("queries", metavar="QUERIES.jsonl")
    p.add_argument("--store", help="store root (folder or s3://...) [env PLAYBOOKS_STORE]")
    p.add_argument("--endpoint-url", dest="endpoint_url", help="S3 endpoint URL")
    p.add_argument("--manifest", help="evaluate this manifest instead of CURRENT's")
    p.add_argument(
        "--tenant", help="search as this tenant when a line gives none (default: the library only)"
    )
    p.add_argument(
        "--out", metavar="RESULTS.jsonl", help="write per query the input object plus 'ranked'"
    )
    p.add_argument(
        "--mode",
        choices=MODES,
        default="hybrid",
        help="channels: hybrid (default), vector (the spec's approach), keyword",
    )
    p.add_argument(
        "--fusion",
        choices=FUSIONS,
        default=DEFAULT_FUSION,
        help=f"how hybrid combines the channels (default {DEFAULT_FUSION})",
    )
    p.add_argument(
        "--metrics",
        metavar="FILE",
        help="metrics file (default: <queries dir>/results/<name>-<mode>.json)",
    )
    p.add_argument("--summary-only", action="store_true", help="omit the per-query lines")
    p.add_argument(
        "--rerank",
        action="store_true",
        help="ask every query for the LLM re-rank pass (needs PLAYBOOKS_LLM_PROVIDER, "
        "PLAYBOOKS_LLM_MODEL and usually PLAYBOOKS_LLM_BASE_URL); the pass's statuses are "
        "counted in the output",
    )


def metrics_path(args: argparse.Namespace) -> Path:
    if args.metrics:
        return Path(args.metrics)
    q = Path(args.queries)
    suffix = (
        args.mode
        if args.mode != "hybrid" or args.fusion == DEFAULT_FUSION
        else (f"hybrid-{args.fusion}")
    )
    if getattr(args, "rerank", False):
        suffix += "-rerank"
    return q.parent / "results" / f"{q.stem}-{suffix}.json"


def run(args: argparse.Namespace) -> int:
    from indexer.model import is_valid_tenant
    from indexer.settings import load_settings
    from serve import evaluate
    from serve.local import LocalSearcher

    overrides = {
        k: str(getattr(args, k))
        for k in ("store", "endpoint_url", "manifest")
        if getattr(args, k, None)
    }
    settings = load_settings(overrides)
    if args.tenant is not None and not is_valid_tenant(args.tenant):
        print(
            f"playbooks eval: error: tenant {args.tenant!r} is not a valid tenant id",
            file=sys.stderr,
        )
        return 2
    queries = evaluate.load_queries(args.queries)
    searcher = LocalSearcher(settings)
    llm = searcher.llm
    if args.rerank and llm is None:
        searcher.close()
        print(
            "playbooks eval: error: --rerank needs an LLM provider: set PLAYBOOKS_LLM_PROVIDER "
            "(openai or anthropic), PLAYBOOKS_LLM_MODEL and PLAYBOOKS_LLM_BASE_URL",
            file=sys.stderr,
        )
        return 2
    try:
        result = evaluate.run_eval(
            searcher.generation,
            searcher.embedder,
            settings,
            queries,
            mode=args.mode,
            tenant=args.tenant,
            fusion=args.fusion,
            rerank=searcher.rerank if args.rerank else None,
        )
        manifest_id = searcher.generation.manifest_id
    finally:
        searcher.close()
    if args.out:
        evaluate.write_results(result, args.out)
    meta = {
        "queries_file": str(args.queries),
        "mode": args.mode,
        "fusion": args.fusion if args.mode == "hybrid" else None,
        "store": settings.store,
        "manifest_id": manifest_id,
        "tenant": args.tenant,
    }
    if args.rerank and llm is not None:
        from serve.llm import PROMPT_VERSION

        meta.update(
            rerank=True,
            llm_provider=llm.config.provider,
            llm_model=llm.config.model,
            llm_prompt_version=PROMPT_VERSION,
        )
    path = metrics_path(args)
    previous = evaluate.save_metrics(result, path, meta)
    print(evaluate.render(result, meta, previous, per_query=not args.summary_only))
    print(f"\nmetrics saved to {path}" + (f"; results written to {args.out}" if args.out else ""))
    return 0
