#!/usr/bin/env python3
"""Redrive messages from an SQS dead-letter queue.

Requires: boto3>=1.28
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import boto3

log = logging.getLogger("sqs-redrive")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Redrive messages from an SQS dead-letter queue.')
    ap.add_argument('--dlq-url', required=True)
    ap.add_argument('--dest-arn', default=None)
    ap.add_argument('--rate', type=int, default=50)
    ap.add_argument('--region', default=None)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    sqs = boto3.client("sqs", region_name=args.region)
    attrs = sqs.get_queue_attributes(QueueUrl=args.dlq_url,
                                     AttributeNames=["QueueArn", "ApproximateNumberOfMessages"])["Attributes"]
    log.info("%s messages in %s", attrs["ApproximateNumberOfMessages"], attrs["QueueArn"])
    if args.dry_run or attrs["ApproximateNumberOfMessages"] == "0":
        return 0
    kwargs = {"SourceArn": attrs["QueueArn"], "MaxNumberOfMessagesPerSecond": args.rate}
    if args.dest_arn:
        kwargs["DestinationArn"] = args.dest_arn
    sqs.start_message_move_task(**kwargs)
    while True:
        task = sqs.list_message_move_tasks(SourceArn=attrs["QueueArn"], MaxResults=1)["Results"][0]
        log.info("%s moved=%s", task["Status"], task.get("ApproximateNumberOfMessagesMoved"))
        if task["Status"] != "RUNNING":
            return 0 if task["Status"] == "COMPLETED" else 1
        time.sleep(15)


if __name__ == "__main__":
    sys.exit(main())
