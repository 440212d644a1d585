"""End-to-end search over HTTP against a real uvicorn server, at each store size.

For each size: spawns ``python -m serve`` on a free loopback port (query log off, no
polling, no rate limit, one API key per tenant in an API keys file, ``--workers``
processes), measures cold start (wall time from spawn until ``/readyz`` answers 200: the
library loaded, tenants lazy) and the server's
RSS (``VmRSS`` of ``/proc/<pid>/status`` when ready and after a warm-up; ``VmHWM`` for
the peak), then runs closed-loop load: 1, 4 and 16 client threads, each with its own
``httpx.Client``, each sending the next uncached query (distinct texts from
:func:`bench.search_bench.queries`) as soon as the previous one answers, for
``--seconds`` per level. Reports p50/p95/p99 latency, searches/s and errors (non-200
answers and exceptions), the server's own ``took_ms`` p50 (the rest is HTTP, JSON and
queueing), and how many tenant collections the server loaded and evicted meanwhile.

Who searches (``--traffic``): ``zipf`` (default) spreads the queries over every tenant
of the store with Zipf weights (s = 1.1, tenants in a seeded random order: a few busy
tenants, a long tail that is loaded on demand and may be evicted under the memory
budget); ``one`` sends everything as the median-sized tenant (always loaded: the
search path alone).

    python -m bench.http_bench                    # 10k, 100k real vectors; 1m random
    python -m bench.http_bench --sizes 10k,100k,1m --vectors random --seconds 10

The client runs on the same machine as the server and competes with it for the CPUs.
Writes ``bench/results/http.json`` (and ``http.txt``).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from bench._table import RESULTS, save, table
from bench.search_bench import percentiles, queries
from bench.stores import VECTORS, BenchStore, parse_sizes, servable_store

ZIPF_S = 1.1
TRAFFIC = ("zipf", "one")
LEVELS = (1, 4, 16)
WARMUP = 20
READY_TIMEOUT = 900.0
ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM in MiB of ``pid`` and its child processes (the workers), summed
    (empty when the process is gone)."""
    out: dict[str, int] = {}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) // 1024
    except OSError:
        return out
    for child in children:
        for key, mib in proc_status(int(child)).items():
            out[key] = out.get(key, 0) + mib
    return out


def api_key(tenant: str) -> str:
    return f"bench-key-{tenant}-00000000"


def write_keys(store: BenchStore, path: Path) -> Path:
    """An API keys file with one search key per tenant of ``store``."""
    path.write_text("".join(f"{api_key(t)}={t}\n" for t in sorted(store.tenant_rows)))
    return path


class Tenants:
    """Who sends the next query: the median tenant, or Zipf over every tenant."""

    def __init__(self, store: BenchStore, traffic: str, seed: int = 5) -> None:
        rng = np.random.default_rng(seed)
        if traffic == "one":
            self.names = [store.mid_tenant]
            self.weights = np.ones(1)
        else:
            self.names = sorted(store.tenant_rows)
            rng.shuffle(self.names)
            ranks = np.arange(1, len(self.names) + 1, dtype=np.float64)
            self.weights = ranks**-ZIPF_S / np.sum(ranks**-ZIPF_S)
        self._rng = rng
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            return self.names[int(self._rng.choice(len(self.names), p=self.weights))]


class Server:
    """A ``python -m serve`` subprocess over one store; ``stop()`` ends it by its pid."""

    def __init__(self, store: BenchStore, log_path: Path, workers: int = 1) -> None:
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        keys = write_keys(store, log_path.parent / f"{log_path.name}.keys.tmp")
        env = {
            **os.environ,
            "PLAYBOOKS_API_KEYS": "",
            "PLAYBOOKS_API_KEYS_FILE": str(keys),
            "PLAYBOOKS_QUERYLOG": "false",
            # the per-credential rate limit would answer 429 to the busiest tenants: this
            # measures search, not the limiter
            "PLAYBOOKS_RATE_PER_MINUTE": "0",
            "PLAYBOOKS_WORKERS": str(workers),
            "PLAYBOOKS_POLL_SECONDS": "0",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "serve",
                "--store",
                str(store.path),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> float:
        """Seconds from spawn until ``/readyz`` said 200 (with several workers: on several
        new connections in a row, so every worker is ready); raises if it died or timed
        out."""
        needed = 1 if self.workers == 1 else 4 * self.workers
        streak = 0
        while time.perf_counter() - self.started < timeout:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{tail}")
            try:
                ok = httpx.get(f"{self.url}/readyz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                ok = False
            streak = streak + 1 if ok else 0
            if streak >= needed:
                return time.perf_counter() - self.started
            if not ok:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready after {timeout:.0f}s (log: {self.log_path})")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def memory(url: str) -> dict[str, Any]:
    """The server's collection memory counters (``/readyz``)."""
    with httpx.Client(timeout=10.0) as client:
        body = client.get(f"{url}/readyz").json()
    return dict(body.get("memory") or {})


def closed_loop(
    url: str,
    clients: int,
    seconds: float,
    bodies: Iterator[dict[str, Any]],
    tenants: Tenants,
    workers: int = 1,
) -> dict[str, Any]:
    """``clients`` threads, each sending a search as soon as its previous one returned."""
    lock = threading.Lock()
    latencies: list[float] = []
    took: list[float] = []
    errors: dict[str, int] = {}
    start = threading.Barrier(clients + 1)
    deadline = [0.0]
    before = memory(url)

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=30.0) as client:
            start.wait()
            while time.perf_counter() < deadline[0]:
                with lock:
                    body = next(bodies)
                headers = {"Authorization": f"Bearer {api_key(tenants.next())}"}
                t = time.perf_counter()
                try:
                    r = client.post("/api/playbook/search", json=body, headers=headers)
                    ms = (time.perf_counter() - t) * 1000
                    ok = r.status_code == 200
                    kind = None if ok else f"http {r.status_code}"
                    server_ms = r.json().get("took_ms") if ok else None
                except (httpx.HTTPError, ValueError) as exc:
                    ok, kind, ms, server_ms = False, type(exc).__name__, 0.0, None
                with lock:
                    if ok:
                        latencies.append(ms)
                        if server_ms is not None:
                            took.append(float(server_ms))
                    else:
                        errors[kind or "?"] = errors.get(kind or "?", 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for th in threads:
        th.start()
    deadline[0] = time.perf_counter() + seconds
    t0 = time.perf_counter()
    start.wait()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    after = memory(url)
    return {
        "clients": clients,
        # /readyz answers for one worker: the counters only add up with one worker
        "tenant_loads": _delta(before, after, "loads") if workers == 1 else None,
        "evictions": _delta(before, after, "evictions") if workers == 1 else None,
        "loaded_after": after.get("loaded") if workers == 1 else None,
        "seconds": elapsed,
        "ok": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "per_second": len(latencies) / elapsed,
        "ms": percentiles(latencies),
        "server_took_ms": percentiles(took),
    }


def _delta(before: dict[str, Any], after: dict[str, Any], key: str) -> int:
    return int(after.get(key, 0)) - int(before.get(key, 0))


def bench_size(
    store: BenchStore, seconds: float, levels: tuple[int, ...], traffic: str, workers: int = 1
) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    server = Server(store, RESULTS / f"http-server-{store.size.name}.log.tmp", workers)
    tenants = Tenants(store, traffic)
    try:
        cold = server.wait_ready()
        rss_ready = proc_status(server.proc.pid)
        ready_memory = memory(server.url)
        bodies = queries(10**9, seed=17 + store.size.total)
        with httpx.Client(base_url=server.url, timeout=60.0) as client:
            for _ in range(WARMUP):
                headers = {"Authorization": f"Bearer {api_key(tenants.next())}"}
                r = client.post("/api/playbook/search", json=next(bodies), headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"warm-up search failed: {r.status_code} {r.text[:500]}")
        rss_warm = proc_status(server.proc.pid)
        runs = []
        for c in levels:
            print(f"  {store.size.name}: {c} client(s) for {seconds:.0f}s ...", flush=True)
            runs.append(closed_loop(server.url, c, seconds, bodies, tenants, workers))
        rss_after = proc_status(server.proc.pid)
    finally:
        server.stop()
    return {
        "size": store.size.name,
        "playbooks": store.size.total,
        "vectors": store.vectors,
        "traffic": traffic,
        "workers": workers,
        "tenants": len(tenants.names),
        "tenant": store.mid_tenant if traffic == "one" else None,
        "tenant_rows": store.tenant_rows[store.mid_tenant] if traffic == "one" else None,
        "cold_start_seconds": cold,
        "memory_at_ready": ready_memory,
        "rss_mib_ready": rss_ready.get("VmRSS"),
        "rss_mib_warm": rss_warm.get("VmRSS"),
        "rss_mib_after_load": rss_after.get("VmRSS"),
        "rss_mib_peak": rss_after.get("VmHWM"),
        "runs": runs,
    }


def render(results: list[dict[str, Any]]) -> str:
    start_rows = [
        [
            r["size"],
            r["playbooks"],
            r["cold_start_seconds"],
            r["rss_mib_ready"],
            r["rss_mib_warm"],
            r["rss_mib_peak"],
            "<= 5 s (lazy tenants)" if r["size"] == "1m" else "",
        ]
        for r in results
    ]
    load_rows = []
    for r in results:
        for run in r["runs"]:
            target = ""
            if r["size"] == "1m" and run["clients"] == 1:
                target = "p50 <= 6, p99 <= 15"
            elif r["size"] == "1m" and run["clients"] == 4:
                target = ">= 200/s, 0 errors"
            load_rows.append(
                [
                    r["size"],
                    run["clients"],
                    run["ok"],
                    run["errors"],
                    run["per_second"],
                    run["ms"]["p50"],
                    run["ms"]["p95"],
                    run["ms"]["p99"],
                    run["server_took_ms"]["p50"],
                    "-" if run["tenant_loads"] is None else run["tenant_loads"],
                    "-" if run["evictions"] is None else run["evictions"],
                    target,
                ]
            )
    return (
        table(
            [
                "size",
                "playbooks",
                "cold start s",
                "RSS ready MiB",
                "RSS warm MiB",
                "peak MiB",
                "target",
            ],
            start_rows,
        )
        + "\n\n"
        + table(
            [
                "size",
                "clients",
                "ok",
                "errors",
                "searches/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "server took p50",
                "tenant loads",
                "evictions",
                "target",
            ],
            load_rows,
        )
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", default="10k,100k,1m")
    p.add_argument(
        "--vectors", choices=VECTORS, default="auto", help="auto: real at 10k/100k, random at 1m"
    )
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--levels", default=",".join(map(str, LEVELS)))
    p.add_argument("--traffic", choices=TRAFFIC, default="zipf", help="who searches (see above)")
    p.add_argument("--workers", type=int, default=1, help="server worker processes")
    p.add_argument("--name", default="http", help="results file name (bench/results/NAME)")
    args = p.parse_args(argv)
    levels = tuple(int(x) for x in args.levels.split(","))
    results = []
    for size in parse_sizes(args.sizes):
        store = servable_store(size, args.vectors)
        print(f"serving {size.name} ...", flush=True)
        results.append(bench_size(store, args.seconds, levels, args.traffic, args.workers))
    text = render(results)
    print()
    print(text)
    path = save(
        args.name,
        {
            "vectors_option": args.vectors,
            "traffic": args.traffic,
            "workers": args.workers,
            "note": NOTE,
            "sizes": results,
        },
        text,
    )
    print(f"\nsaved {path}")
    return {"sizes": results}


NOTE = (
    "Loopback, client threads on the same 2-core machine as the server, other engineers' "
    "jobs running concurrently: noisy. Random vectors are a search-only stand-in."
)


if __name__ == "__main__":
    main()
