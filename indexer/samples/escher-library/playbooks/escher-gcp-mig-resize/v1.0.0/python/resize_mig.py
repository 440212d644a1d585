#!/usr/bin/env python3
"""Resize a zonal managed instance group.

Requires: google-cloud-compute>=1.14
"""

from __future__ import annotations

import argparse
import logging
import sys
from google.cloud import compute_v1

log = logging.getLogger("mig-resize")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Resize a zonal managed instance group.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--zone', required=True)
    ap.add_argument('--mig', required=True)
    ap.add_argument('--size', type=int, required=True)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    migs = compute_v1.InstanceGroupManagersClient()
    mig = migs.get(project=args.project, zone=args.zone, instance_group_manager=args.mig)
    if mig.status.autoscaler:
        log.error("%s is autoscaled by %s; change the autoscaler instead", args.mig, mig.status.autoscaler)
        return 2
    log.info("%s: %d -> %d", args.mig, mig.target_size, args.size)
    if not args.dry_run:
        migs.resize(project=args.project, zone=args.zone, instance_group_manager=args.mig,
                    size=args.size).result(timeout=600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
