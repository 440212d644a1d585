#!/usr/bin/env python3
"""Snapshot and stop an Amazon RDS DB instance.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import boto3

log = logging.getLogger("rds-stop")


def stop_instance(rds, db_id: str, skip_snapshot: bool, timeout: int, dry_run: bool) -> None:
    db = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]
    if db["DBInstanceStatus"] != "available":
        raise SystemExit(f"{db_id} is {db['DBInstanceStatus']!r}, expected 'available'")
    if db.get("ReadReplicaSourceDBInstanceIdentifier"):
        raise SystemExit(f"{db_id} is a read replica and cannot be stopped")
    if not skip_snapshot:
        snap = f"pre-stop-{db_id}-{time.strftime('%Y%m%d%H%M', time.gmtime())}"
        log.info("snapshot %s", snap)
        if not dry_run:
            rds.create_db_snapshot(DBInstanceIdentifier=db_id, DBSnapshotIdentifier=snap)
            rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snap)
    log.info("stopping %s", db_id)
    if dry_run:
        return
    rds.stop_db_instance(DBInstanceIdentifier=db_id)
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = rds.describe_db_instances(DBInstanceIdentifier=db_id)["DBInstances"][0]["DBInstanceStatus"]
        if state == "stopped":
            log.info("%s stopped", db_id)
            return
        time.sleep(15)
    raise SystemExit(f"timed out waiting for {db_id} to stop")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Snapshot and stop an Amazon RDS DB instance.')
    ap.add_argument('--instance-id', required=True)
    ap.add_argument('--region', default=None)
    ap.add_argument('--skip-snapshot', action='store_true')
    ap.add_argument('--timeout', type=int, default=900)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    rds = boto3.client("rds", region_name=args.region)
    stop_instance(rds, args.instance_id, args.skip_snapshot, args.timeout, args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
