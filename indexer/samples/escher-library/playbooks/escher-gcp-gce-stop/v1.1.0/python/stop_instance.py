#!/usr/bin/env python3
"""Stop a Compute Engine instance.

Requires: google-cloud-compute>=1.14
"""

from __future__ import annotations

import argparse
import logging
import sys
from google.cloud import compute_v1

log = logging.getLogger("gce-stop")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Stop a Compute Engine instance.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--zone', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    client = compute_v1.InstancesClient()
    inst = client.get(project=args.project, zone=args.zone, instance=args.name)
    log.info("%s is %s", inst.name, inst.status)
    if inst.status != "RUNNING" or args.dry_run:
        return 0
    op = client.stop(project=args.project, zone=args.zone, instance=args.name)
    op.result(timeout=300)
    log.info("%s is %s", args.name, client.get(project=args.project, zone=args.zone, instance=args.name).status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
