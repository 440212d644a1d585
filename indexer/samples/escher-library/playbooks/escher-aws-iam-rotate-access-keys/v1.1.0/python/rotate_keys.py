#!/usr/bin/env python3
"""Rotate an IAM user's access keys and publish the new one to Secrets Manager.

Requires: boto3>=1.26
"""

from __future__ import annotations

import argparse
import logging
import sys
import datetime as dt
import json

import boto3

log = logging.getLogger("iam-rotate")


def old_keys(iam, user: str, max_age: int) -> list[str]:
    now = dt.datetime.now(dt.timezone.utc)
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    return [k["AccessKeyId"] for k in keys if (now - k["CreateDate"]).days > max_age]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Rotate an IAM user's access keys and publish the new one to Secrets Manager.")
    ap.add_argument('--user', required=True)
    ap.add_argument('--max-age-days', type=int, default=90)
    ap.add_argument('--secret-id', default=None)
    ap.add_argument('--delete-old', action='store_true')
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    iam, sm = boto3.client("iam"), boto3.client("secretsmanager")
    stale = old_keys(iam, args.user, args.max_age_days)
    if not stale:
        log.info("no key older than %d days", args.max_age_days)
        return 0
    log.info("rotating %s (stale: %s)", args.user, stale)
    if args.dry_run:
        return 0
    new = iam.create_access_key(UserName=args.user)["AccessKey"]
    sm.put_secret_value(SecretId=args.secret_id or f"iam/{args.user}/access-key", SecretString=json.dumps(
        {"AccessKeyId": new["AccessKeyId"], "SecretAccessKey": new["SecretAccessKey"]}))
    for kid in stale:
        iam.update_access_key(UserName=args.user, AccessKeyId=kid, Status="Inactive")
        if args.delete_old:
            iam.delete_access_key(UserName=args.user, AccessKeyId=kid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
