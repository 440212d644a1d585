"""``python -m serve``: run the search server (flags override PLAYBOOKS_* variables).

Example::

    PLAYBOOKS_API_KEYS='k3y-for-acme-0123456789=acme' python -m serve --store . --port 8000
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from indexer.errors import PlaybookError
from indexer.settings import SETTINGS_BY_NAME, load_settings

FLAGS = ("store", "manifest", "host", "port", "workers", "model_path", "api_keys_file", "log_level")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m serve",
        description="Serve playbook searches over the store's CURRENT manifest.",
        epilog="example: PLAYBOOKS_API_KEYS='k3y-for-acme-0123456789=acme' "
        "python -m serve --store ./store --port 8000",
    )
    for name in FLAGS:
        s = SETTINGS_BY_NAME[name]
        p.add_argument(
            f"--{name.replace('_', '-')}",
            dest=name,
            default=None,
            help=f"{s.help} [env {s.env}, default {s.default!r}]",
        )
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = load_settings({k: v for k, v in vars(args).items() if v is not None})
        from serve.app import run

        run(settings)
    except PlaybookError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
