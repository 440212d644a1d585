#!/usr/bin/env python3
"""Start a stopped Amazon RDS DB instance.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import boto3

log = logging.getLogger("rds-start")


def start_instance(rds, db_id: str, dry_run: bool) -> str | None:
    db = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
    if db["DBInstanceStatus"] == "available":
        log.info("%s already available", db_id)
        return db["Endpoint"]["Address"]
    if db["DBInstanceStatus"] != "stopped":
        raise SystemExit(f"{db_id} is {db['DBInstanceStatus']!r}; cannot start")
    log.info("starting %s", db_id)
    if dry_run:
        return None
    rds.start_db_instance(DBInstanceIdentifier=db_id)
    rds.get_waiter("db_instance_available").wait(
        DBInstanceIdentifier=db_id, WaiterConfig={"Delay": 30, "MaxAttempts": 40})
    db = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
    return db["Endpoint"]["Address"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Start a stopped Amazon RDS DB instance.')
    ap.add_argument('--instance-id', required=True)
    ap.add_argument('--region', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    rds = boto3.client("rds", region_name=args.region)
    endpoint = start_instance(rds, args.instance_id, args.dry_run)
    print(endpoint or "(dry run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
