#!/usr/bin/env python3
"""Take an on-demand Cloud SQL backup via the SQL Admin API.

Requires: google-api-python-client>=2.100, google-auth>=2.23
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import google.auth
from googleapiclient import discovery

log = logging.getLogger("cloudsql-backup")


def wait(sql, project: str, op_name: str) -> None:
    while True:
        op = sql.operations().get(project=project, operation=op_name).execute()
        if op["status"] == "DONE":
            if "error" in op:
                raise SystemExit(op["error"])
            return
        time.sleep(10)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Take an on-demand Cloud SQL backup via the SQL Admin API.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--instance', required=True)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    creds, _ = google.auth.default(scopes=["https://www.googleapis.com/auth/sqlservice.admin"])
    sql = discovery.build("sqladmin", "v1", credentials=creds, cache_discovery=False)
    log.info("backing up %s", args.instance)
    if args.dry_run:
        return 0
    op = sql.backupRuns().insert(project=args.project, instance=args.instance,
                                 body={"description": "escher on-demand"}).execute()
    wait(sql, args.project, op["name"])
    log.info("backup done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
