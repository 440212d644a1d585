from __future__ import annotations

import pytest

from indexer.embed import Embedder


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real packaged model, loaded once per session."""
    e = Embedder()
    e.warm()
    return e
