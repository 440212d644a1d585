"""Who and what built a manifest or snapshot: recorded in every manifest (``created_by``)
and snapshot description (``built_with``)."""

from __future__ import annotations

import getpass
import platform
import socket
import sys
from functools import lru_cache
from typing import Any

from indexer import __version__


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container uid with no passwd entry
        return "unknown"


@lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats the store depends on (read once)."""
    import duckdb
    import faiss
    import pyarrow

    return {
        "faiss": faiss.__version__,
        "pyarrow": pyarrow.__version__,
        "duckdb": duckdb.__version__,
    }


def created_by(command: str) -> dict[str, Any]:
    """The ``created_by`` record of a manifest committed by ``command``."""
    return {
        "tool": command,
        "version": __version__,
        "host": socket.gethostname(),
        "user": _user(),
        "argv": sys.argv[1:],
        "python": platform.python_version(),
        "libraries": dict(library_versions()),
    }
