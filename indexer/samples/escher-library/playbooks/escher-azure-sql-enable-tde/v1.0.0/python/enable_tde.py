#!/usr/bin/env python3
"""Enable TDE on Azure SQL databases.

Requires: azure-identity>=1.15, azure-mgmt-sql>=3.0
"""

from __future__ import annotations

import argparse
import logging
import sys
from azure.identity import DefaultAzureCredential
from azure.mgmt.sql import SqlManagementClient

log = logging.getLogger("azure-sql-tde")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Enable TDE on Azure SQL databases.')
    ap.add_argument('--subscription-id', required=True)
    ap.add_argument('--resource-group', required=True)
    ap.add_argument('--server', required=True)
    ap.add_argument('--database', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    sql = SqlManagementClient(DefaultAzureCredential(), args.subscription_id)
    names = [args.database] if args.database else [
        d.name for d in sql.databases.list_by_server(args.resource_group, args.server) if d.name != "master"]
    for db in names:
        tde = sql.transparent_data_encryptions.get(args.resource_group, args.server, db, "current")
        if tde.state == "Enabled":
            continue
        log.info("enable TDE on %s", db)
        if not args.dry_run:
            sql.transparent_data_encryptions.begin_create_or_update(
                args.resource_group, args.server, db, "current", {"state": "Enabled"}).result()
    return 0


if __name__ == "__main__":
    sys.exit(main())
