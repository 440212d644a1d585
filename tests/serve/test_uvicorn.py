"""The server as a real process: ``python -m serve`` under uvicorn, over real HTTP."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from serve.__main__ import main
from tests.serve._server import READY_WITHIN_SECONDS, Server, server_process

ACME_KEY = "acme-key-0123456789abcdef"
UMBRELLA_KEY = "umbrella-key-0123456789ab"


@contextmanager
def serve_process(
    store: Path, tmp_path: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Server]:
    """The server over ``store`` with acme's and umbrella's keys, JSON logs at info;
    yields once ``/readyz`` answers at all (200 loaded, 503 not)."""
    env = {"PLAYBOOKS_API_KEYS": f"{ACME_KEY}=acme,{UMBRELLA_KEY}=umbrella", **(extra_env or {})}
    with server_process(store, tmp_path / "server.log", env, ready=False) as server:
        yield server


def stop(server: Server) -> int:
    server.process.send_signal(signal.SIGTERM)
    return server.process.wait(timeout=30)


def test_real_server_answers_searches_and_exits_cleanly(
    indexed_store: Path, tmp_path: Path
) -> None:
    with serve_process(indexed_store, tmp_path) as server:
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 200, ready.text
        assert ready.json()["collections"] == {
            "escher_library": 3,
            "tenant_acme_playbooks": 2,
            "tenant_umbrella_playbooks": 1,
        }
        response = httpx.post(
            f"{server.url}/api/playbook/search",
            json={
                "query": "stop the reporting databases at the weekend",
                "limit": 10,
                "explain": True,
            },
            headers={"Authorization": f"Bearer {ACME_KEY}", "X-Request-ID": "uv-1"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.headers["x-request-id"] == "uv-1"
        body = response.json()
        assert body["tenant"] == "acme"
        results = body["results"]
        assert results[0]["playbook_id"] == "team-weekend-shutdown"
        assert results[0]["collection"] == "tenant_acme_playbooks"
        assert results[0]["reason"].startswith("Your team's playbook, 12/12 successful runs")
        assert results[0]["scripts"]["shell"]["entry_point"] == "run.sh"
        seen = {(r["collection"], r["playbook_id"], r["version"]) for r in results}
        assert ("tenant_acme_playbooks", "acme-broken", "1.0.0") not in seen
        assert not any(r["collection"] == "tenant_umbrella_playbooks" for r in results)
        rds = [r for r in results if r["playbook_id"] == "escher-aws-rds-stop"]
        assert [r["version"] for r in rds] == ["1.2.0"]
        assert [v["version"] for v in rds[0]["older_versions"]] == ["1.0.0"]
        tagged = httpx.post(
            f"{server.url}/api/playbook/search",
            json={"query": "weekend", "filters": {"tags": {"approved": True}}},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=30,
        ).json()
        assert [r["playbook_id"] for r in tagged["results"]] == ["team-weekend-shutdown"]

        denied = httpx.post(f"{server.url}/api/playbook/search", json={"query": "x"}, timeout=10)
        assert denied.status_code == 401
        assert set(denied.json()) == {"error", "request_id"}
        too_big = httpx.post(
            f"{server.url}/api/playbook/search",
            content=b'{"query": "' + b"x" * 70_000 + b'"}',
            headers={"Authorization": f"Bearer {ACME_KEY}", "Content-Type": "application/json"},
            timeout=10,
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "payload_too_large"

        assert stop(server) == 0
    lines = server.log_lines()
    messages = [str(line.get("message")) for line in lines]
    assert "Application shutdown complete." in messages
    assert "stopped by SIGTERM" in messages
    access = [line for line in lines if line.get("logger") == "serve.access"]
    assert any(
        line.get("request_id") == "uv-1"
        and line.get("status") == 200
        and line.get("tenant") == "acme"
        for line in access
    )
    assert not any(ACME_KEY in json.dumps(line) for line in lines)


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split()]


def test_workers_share_the_port_and_stop_together(indexed_store: Path, tmp_path: Path) -> None:
    with serve_process(indexed_store, tmp_path, {"PLAYBOOKS_WORKERS": "2"}) as server:
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        ready = 0
        while ready < 6:  # both workers loaded: consecutive connections all ready
            status = httpx.get(f"{server.url}/readyz", timeout=10).status_code
            ready = ready + 1 if status == 200 else 0
            assert time.monotonic() < deadline, server.log.read_text()
        # uvicorn's supervisor spawns the workers (multiprocessing spawn_main)
        workers = [c for c in _children(server.process.pid) if "spawn_main" in _cmdline(c)]
        assert len(workers) == 2, [_cmdline(c) for c in _children(server.process.pid)]
        for i in range(12):  # a new connection each: the kernel spreads them over workers
            response = httpx.post(
                f"{server.url}/api/playbook/search",
                json={"query": f"stop the reporting databases {i}"},
                headers={"Authorization": f"Bearer {ACME_KEY}"},
                timeout=30,
            )
            assert response.status_code == 200, response.text
            assert response.json()["results"][0]["playbook_id"] == "team-weekend-shutdown"
        assert stop(server) == 0
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in _status(pid)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"


def test_real_server_over_an_empty_store_is_live_but_not_ready(tmp_path: Path) -> None:
    store = tmp_path / "empty-store"
    store.mkdir()
    with serve_process(store, tmp_path) as server:
        assert httpx.get(f"{server.url}/healthz", timeout=10).json() == {"status": "ok"}
        ready = httpx.get(f"{server.url}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["error"]["code"] == "not_ready"
        search = httpx.post(
            f"{server.url}/api/playbook/search",
            json={"query": "x"},
            headers={"Authorization": f"Bearer {ACME_KEY}"},
            timeout=10,
        )
        assert search.status_code == 503
        assert stop(server) == 0
    errors = [line for line in server.log_lines() if line.get("level") == "error"]
    assert any("no manifests/CURRENT" in str(line.get("message")) for line in errors)


def test_cli_reports_bad_settings_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0", "--store", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: PLAYBOOKS_PORT: expected a positive integer")
    assert err.count("\n") == 1


def test_cli_help_names_every_flag_with_its_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag, env in (
        ("--store", "PLAYBOOKS_STORE"),
        ("--port", "PLAYBOOKS_PORT"),
        ("--manifest", "PLAYBOOKS_MANIFEST"),
    ):
        assert flag in out and env in out
    assert "example:" in out
