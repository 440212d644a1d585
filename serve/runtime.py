"""Process settings for serving: one math thread per request.

A search multiplies a query vector with at most a few tens of thousands of rows; OpenBLAS
would split such a product over every core and spin its threads between requests, which
on a small machine steals the cores the other requests (and the ONNX query model) need.
Concurrency comes from serving several requests at once, not from threads inside one, so
the server limits BLAS to one thread at start (torch, used only by the indexer and the
fallback query embedder, keeps its own settings).
"""

from __future__ import annotations

import logging

from threadpoolctl import threadpool_limits

log = logging.getLogger("serve.runtime")
_applied: list[object] = []


def single_threaded_math() -> None:
    """Limit BLAS libraries to one thread for the rest of the process (idempotent)."""
    if _applied:
        return
    _applied.append(threadpool_limits(limits=1, user_api="blas"))
    log.debug("BLAS limited to one thread per call")
