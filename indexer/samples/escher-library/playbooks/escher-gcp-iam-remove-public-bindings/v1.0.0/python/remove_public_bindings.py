#!/usr/bin/env python3
"""Remove allUsers/allAuthenticatedUsers from bucket IAM policies.

Requires: google-cloud-storage>=2.10
"""

from __future__ import annotations

import argparse
import logging
import sys
import json

from google.cloud import storage

PUBLIC = {"allUsers", "allAuthenticatedUsers"}
log = logging.getLogger("gcp-public-iam")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Remove allUsers/allAuthenticatedUsers from bucket IAM policies.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--exclude', nargs='*', default=[])
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    client = storage.Client(project=args.project)
    for bucket in client.list_buckets():
        if bucket.name in args.exclude:
            continue
        policy = bucket.get_iam_policy(requested_policy_version=3)
        changed = False
        for binding in policy.bindings:
            public = PUBLIC & set(binding["members"])
            if public:
                log.info("%s: remove %s from %s", bucket.name, sorted(public), binding["role"])
                binding["members"] = set(binding["members"]) - PUBLIC
                changed = True
        if changed and not args.dry_run:
            with open(f"iam-backup-{bucket.name}.json", "w") as fh:
                json.dump(bucket.get_iam_policy(requested_policy_version=3).to_api_repr(), fh)
            bucket.set_iam_policy(policy)
    return 0


if __name__ == "__main__":
    sys.exit(main())
