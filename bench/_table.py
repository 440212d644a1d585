"""Print a benchmark table and save its numbers (every benchmark does both)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def save(name: str, data: dict[str, Any], text: str | None = None) -> Path:
    """Write ``bench/results/<name>.json`` (``data`` plus when and where it ran) and, when
    ``text`` (the printed table) is given, ``<name>.txt``; returns the JSON's path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    if text is not None:
        (RESULTS / f"{name}.txt").write_text(text + "\n")
    path = RESULTS / f"{name}.json"
    doc = {
        "benchmark": name,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cpus": _cpus(),
            "platform": platform.platform(),
        },
        **data,
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))
