#!/usr/bin/env python3
"""Enable automatic rotation on customer managed KMS keys.

Requires: boto3>=1.34
"""

from __future__ import annotations

import argparse
import logging
import sys
import boto3

log = logging.getLogger("kms-rotation")


def eligible(kms, key_id: str) -> bool:
    md = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    return (md["KeyManager"] == "CUSTOMER" and md["KeySpec"] == "SYMMETRIC_DEFAULT"
            and md["KeyState"] == "Enabled" and md["Origin"] == "AWS_KMS")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Enable automatic rotation on customer managed KMS keys.')
    ap.add_argument('--key-id', default=None)
    ap.add_argument('--period-days', type=int, default=365)
    ap.add_argument('--region', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    kms = boto3.client("kms", region_name=args.region)
    keys = [args.key_id] if args.key_id else [
        k["KeyId"] for page in kms.get_paginator("list_keys").paginate() for k in page["Keys"]]
    for key in keys:
        if not eligible(kms, key) or kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]:
            continue
        log.info("enable rotation on %s", key)
        if not args.dry_run:
            kms.enable_key_rotation(KeyId=key, RotationPeriodInDays=args.period_days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
