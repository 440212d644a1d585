#!/usr/bin/env bash
# Nightly AMI backup (AWS CLI v1 syntax).
# Usage: <script> [--region REGION] [--keep-days KEEP] [--dry-run]
set -euo pipefail

REGION="us-east-1"
KEEP="7"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
    --keep-days) KEEP="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

# NOTE: written for AWS CLI v1 (`aws --version` -> aws-cli/1.x); --no-reboot behaviour differs in v2.
for id in $(aws ec2 describe-instances --region "$REGION" --filters Name=tag:acme:backup,Values=nightly \
              --query 'Reservations[].Instances[].InstanceId' --output text); do
  run aws ec2 create-image --region "$REGION" --instance-id "$id" --no-reboot \
    --name "nightly-$id-$(date +%Y%m%d)"
done
cutoff=$(date -d "-$KEEP days" +%Y-%m-%d)
for ami in $(aws ec2 describe-images --region "$REGION" --owners self --filters 'Name=name,Values=nightly-*' \
               --query "Images[?CreationDate<'$cutoff'].ImageId" --output text); do
  run aws ec2 deregister-image --region "$REGION" --image-id "$ami"
done
