#!/usr/bin/env python3
"""Acme weekend DB shutdown for one RDS instance.

Requires: boto3>=1.26, botocore>=1.29
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import boto3

log = logging.getLogger("acme-weekend-shutdown")


def active_connections(cw, db_id: str) -> float:
    end = time.time()
    points = cw.get_metric_statistics(
        Namespace="AWS/RDS", MetricName="DatabaseConnections",
        Dimensions=[{"Name": "DBInstanceIdentifier", "Value": db_id}],
        StartTime=end - 600, EndTime=end, Period=300, Statistics=["Maximum"])["Datapoints"]
    return max((pt["Maximum"] for pt in points), default=0.0)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Acme weekend DB shutdown for one RDS instance.')
    ap.add_argument('--instance-id', required=True)
    ap.add_argument('--region', required=True)
    ap.add_argument('--skip-snapshot', action='store_true')
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    rds = boto3.client("rds", region_name=args.region)
    cw = boto3.client("cloudwatch", region_name=args.region)
    conns = active_connections(cw, args.instance_id)
    if conns > 0:
        log.error("%s still has %.0f connections; aborting", args.instance_id, conns)
        return 1
    if not args.skip_snapshot:
        snap = f"weekend-shutdown-{args.instance_id}-{time.strftime('%Y%m%d-%H%M', time.gmtime())}"
        log.info("snapshot %s", snap)
        if not args.dry_run:
            rds.create_db_snapshot(DBInstanceIdentifier=args.instance_id, DBSnapshotIdentifier=snap)
            rds.get_waiter("db_snapshot_available").wait(DBSnapshotIdentifier=snap)
    log.info("stopping %s", args.instance_id)
    if not args.dry_run:
        rds.stop_db_instance(DBInstanceIdentifier=args.instance_id)
        rds.get_waiter("db_instance_stopped").wait(DBInstanceIdentifier=args.instance_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
