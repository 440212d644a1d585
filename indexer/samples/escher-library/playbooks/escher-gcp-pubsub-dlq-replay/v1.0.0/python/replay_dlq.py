#!/usr/bin/env python3
"""Replay Pub/Sub dead-lettered messages to a topic.

Requires: google-cloud-pubsub>=2.18
"""

from __future__ import annotations

import argparse
import logging
import sys
from google.cloud import pubsub_v1

log = logging.getLogger("pubsub-replay")


def replay(project: str, sub: str, topic: str, limit: int, dry_run: bool) -> int:
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    sub_path, topic_path = subscriber.subscription_path(project, sub), publisher.topic_path(project, topic)
    done = 0
    while done < limit:
        resp = subscriber.pull(request={"subscription": sub_path, "max_messages": 100}, timeout=30)
        if not resp.received_messages:
            break
        acks = []
        for rm in resp.received_messages:
            attrs = dict(rm.message.attributes, replayed="true")
            if not dry_run:
                publisher.publish(topic_path, rm.message.data, **attrs).result(timeout=30)
            acks.append(rm.ack_id)
        if not dry_run:
            subscriber.acknowledge(request={"subscription": sub_path, "ack_ids": acks})
        done += len(acks)
        log.info("replayed %d", done)
        if dry_run:
            break
    return done


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Replay Pub/Sub dead-lettered messages to a topic.')
    ap.add_argument('--project', required=True)
    ap.add_argument('--subscription', required=True)
    ap.add_argument('--topic', required=True)
    ap.add_argument('--max-messages', type=int, default=10000)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    n = replay(args.project, args.subscription, args.topic, args.max_messages, args.dry_run)
    log.info("total %d messages", n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
