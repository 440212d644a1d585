#!/usr/bin/env python3
"""Enable uniform bucket-level access and public access prevention on a bucket.

Requires: google-cloud-storage>=2.10
"""

from __future__ import annotations

import argparse
import logging
import sys
from google.cloud import storage
from google.cloud.storage.constants import PUBLIC_ACCESS_PREVENTION_ENFORCED

log = logging.getLogger("gcs-ubla")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Enable uniform bucket-level access and public access prevention on a bucket.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--bucket', required=True)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    bucket = storage.Client(project=args.project).get_bucket(args.bucket.removeprefix("gs://"))
    policy = bucket.get_iam_policy(requested_policy_version=3)
    for binding in policy.bindings:
        if {"allUsers", "allAuthenticatedUsers"} & set(binding["members"]):
            log.warning("public binding %s on %s", binding["role"], bucket.name)
    if args.dry_run:
        return 0
    bucket.iam_configuration.uniform_bucket_level_access_enabled = True
    bucket.iam_configuration.public_access_prevention = PUBLIC_ACCESS_PREVENTION_ENFORCED
    bucket.patch()
    log.info("UBLA and public access prevention enforced on %s", bucket.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
