#!/usr/bin/env python3
"""Delete or archive EBS snapshots older than N days that no AMI uses.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import datetime as dt

import boto3

log = logging.getLogger("ebs-cleanup")


def candidates(ec2, days: int, keep_tag: str):
    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)
    in_use = {
        bdm["Ebs"]["SnapshotId"]
        for img in ec2.describe_images(Owners=["self"])["Images"]
        for bdm in img.get("BlockDeviceMappings", []) if "Ebs" in bdm and "SnapshotId" in bdm["Ebs"]
    }
    for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"]):
        for snap in page["Snapshots"]:
            tags = {t["Key"] for t in snap.get("Tags", [])}
            if snap["StartTime"] < cutoff and snap["SnapshotId"] not in in_use and keep_tag not in tags:
                yield snap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Delete or archive EBS snapshots older than N days that no AMI uses.')
    ap.add_argument('--retention-days', type=int, default=90)
    ap.add_argument('--keep-tag', default='Retain')
    ap.add_argument('--archive', action='store_true')
    ap.add_argument('--region', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    ec2 = boto3.client("ec2", region_name=args.region)
    total_gib = 0
    for snap in candidates(ec2, args.retention_days, args.keep_tag):
        total_gib += snap["VolumeSize"]
        log.info("%s %s %s GiB", "archive" if args.archive else "delete", snap["SnapshotId"], snap["VolumeSize"])
        if args.dry_run:
            continue
        if args.archive:
            ec2.modify_snapshot_tier(SnapshotId=snap["SnapshotId"], StorageTier="archive")
        else:
            ec2.delete_snapshot(SnapshotId=snap["SnapshotId"])
    log.info("total %d GiB", total_gib)
    return 0


if __name__ == "__main__":
    sys.exit(main())
