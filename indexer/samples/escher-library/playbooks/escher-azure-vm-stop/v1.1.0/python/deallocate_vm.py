#!/usr/bin/env python3
"""Stop (deallocate) an Azure VM.

Requires: azure-identity>=1.15, azure-mgmt-compute>=30.0
"""

from __future__ import annotations

import argparse
import logging
import sys
from azure.identity import DefaultAzureCredential
from azure.mgmt.compute import ComputeManagementClient

log = logging.getLogger("azure-vm-stop")


def power_state(client, rg: str, name: str) -> str:
    view = client.virtual_machines.instance_view(rg, name)
    return next((s.code for s in view.statuses if s.code.startswith("PowerState/")), "unknown")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description='Stop (deallocate) an Azure VM.')
    ap.add_argument('--subscription-id', required=True)
    ap.add_argument('--resource-group', required=True)
    ap.add_argument('--name', required=True)
    ap.add_argument('--dry-run', action='store_true', help='log actions only')
    return ap.parse_args(argv)

def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(message)s')
    args = parse_args(argv)
    client = ComputeManagementClient(DefaultAzureCredential(), args.subscription_id)
    state = power_state(client, args.resource_group, args.name)
    log.info("%s is %s", args.name, state)
    if state == "PowerState/deallocated" or args.dry_run:
        return 0
    client.virtual_machines.begin_deallocate(args.resource_group, args.name).result()
    log.info("%s is %s", args.name, power_state(client, args.resource_group, args.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
