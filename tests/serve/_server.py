"""Start ``python -m serve`` as a real process on a free loopback port (for kill/soak tests)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.serve._helpers import API_KEYS

REPO = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 90  # a bound on waiting (the model loads ~5-20 s), not a speed test


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_lines(self) -> list[dict[str, object]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


@contextmanager
def server_process(
    store: Path, log: Path, env: Mapping[str, str] | None = None, ready: bool = True
) -> Iterator[Server]:
    """The server over ``store`` (API keys of ``tests.serve._tiny_store.KEYS`` unless ``env``
    sets others), its output in ``log``; waits until ``/readyz`` answers (200 when
    ``ready``); SIGTERM on exit."""
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PLAYBOOKS_")}
    environ.update(
        {
            "PLAYBOOKS_API_KEYS": API_KEYS,
            "PLAYBOOKS_LOG_LEVEL": "info",
            "HF_HUB_OFFLINE": "1",
            **(env or {}),
        }
    )
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "serve", "--store", str(store), "--port", str(port)],
            cwd=REPO,
            env=environ,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + READY_WITHIN_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"server exited early:\n{log.read_text()}")
            try:
                status = httpx.get(f"{server.url}/readyz", timeout=2).status_code
                if status == 200 or not ready:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"not ready after {READY_WITHIN_SECONDS}s:\n{log.read_text()}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
