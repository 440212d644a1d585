#!/usr/bin/env python3
"""Copy an S3 bucket (or prefix) into a versioned backup bucket.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import boto3

log = logging.getLogger("s3-backup")


def backup(s3, src: str, dest: str, prefix: str, dry_run: bool) -> int:
    if s3.get_bucket_versioning(Bucket=dest).get("Status") != "Enabled":
        raise SystemExit(f"versioning is not enabled on {dest}")
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=src, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not dry_run:
                s3.copy({"Bucket": src, "Key": key}, dest, f"{src}/{key}",
                        ExtraArgs={"StorageClass": "STANDARD_IA"})
            copied += 1
    return copied


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Copy an S3 bucket (or prefix) into a versioned backup bucket.')
    ap.add_argument('--source', required=True)
    ap.add_argument('--dest', required=True)
    ap.add_argument('--prefix', default='')
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    n = backup(boto3.client("s3"), args.source, args.dest, args.prefix, args.dry_run)
    logging.info("copied %d objects", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
