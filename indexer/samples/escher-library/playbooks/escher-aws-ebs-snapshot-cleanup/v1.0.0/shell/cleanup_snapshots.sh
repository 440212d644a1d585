#!/usr/bin/env bash
# Delete EBS snapshots older than N days that no AMI uses.
# Usage: <script> [--retention-days DAYS] [--region REGION] [--keep-tag KEEP_TAG] [--dry-run]
set -euo pipefail

DAYS="90"
REGION="${AWS_REGION:-us-east-1}"
KEEP_TAG="Retain"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --retention-days) DAYS="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --keep-tag) KEEP_TAG="$2"; shift 2 ;;
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

cutoff=$(date -u -d "$DAYS days ago" +%Y-%m-%d)
used=$(aws ec2 describe-images --region "$REGION" --owners self \
  --query 'Images[].BlockDeviceMappings[].Ebs.SnapshotId' --output text)
aws ec2 describe-snapshots --region "$REGION" --owner-ids self \
  --query "Snapshots[?StartTime<'$cutoff' && !(Tags[?Key=='$KEEP_TAG'])].[SnapshotId,VolumeSize]" \
  --output text | while read -r sid size; do
    if grep -qw "$sid" <<<"$used"; then log "skip $sid (used by AMI)"; continue; fi
    log "delete $sid (${size} GiB)"
    run aws ec2 delete-snapshot --region "$REGION" --snapshot-id "$sid"
  done
