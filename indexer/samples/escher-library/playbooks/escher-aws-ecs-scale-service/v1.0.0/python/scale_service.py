#!/usr/bin/env python3
"""Scale an ECS service to a desired task count.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import boto3

log = logging.getLogger("ecs-scale")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Scale an ECS service to a desired task count.')
    ap.add_argument('--cluster', required=True)
    ap.add_argument('--service', required=True)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--region', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    ecs = boto3.client("ecs", region_name=args.region)
    svc = ecs.describe_services(cluster=args.cluster, services=[args.service])["services"][0]
    log.info("desired %d -> %d", svc["desiredCount"], args.count)
    if args.dry_run:
        return 0
    ecs.update_service(cluster=args.cluster, service=args.service, desiredCount=args.count)
    ecs.get_waiter("services_stable").wait(cluster=args.cluster, services=[args.service])
    return 0


if __name__ == "__main__":
    sys.exit(main())
