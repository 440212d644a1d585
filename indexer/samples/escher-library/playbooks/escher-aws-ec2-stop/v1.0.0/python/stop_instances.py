#!/usr/bin/env python3
"""Stop EC2 instances by id or by tag.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import boto3

log = logging.getLogger("ec2-stop")


def resolve(ec2, ids: list[str], tag: str | None) -> list[str]:
    if ids or not tag:
        return ids
    key, _, value = tag.partition("=")
    pages = ec2.get_paginator("describe_instances").paginate(Filters=[
        {"Name": f"tag:{key}", "Values": [value]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ])
    return [i["InstanceId"] for page in pages for r in page["Reservations"] for i in r["Instances"]]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Stop EC2 instances by id or by tag.')
    ap.add_argument('--instance-ids', nargs='*', default=[])
    ap.add_argument('--tag', default=None, help='Key=Value')
    ap.add_argument('--region', default=None)
    ap.add_argument('--hibernate', action='store_true')
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    ec2 = boto3.client("ec2", region_name=args.region)
    ids = resolve(ec2, args.instance_ids, args.tag)
    if not ids:
        log.error("no running instances matched")
        return 1
    log.info("stopping %s", ", ".join(ids))
    if not args.dry_run:
        ec2.stop_instances(InstanceIds=ids, Hibernate=args.hibernate)
        ec2.get_waiter("instance_stopped").wait(InstanceIds=ids)
    return 0


if __name__ == "__main__":
    sys.exit(main())
