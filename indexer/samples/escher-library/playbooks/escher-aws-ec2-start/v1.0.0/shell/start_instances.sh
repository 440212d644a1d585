#!/usr/bin/env bash
# Start EC2 instances and wait for status checks.
# Usage: <script> --instance-ids IDS [--region REGION] [--dry-run]
set -euo pipefail

IDS=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-ids) IDS="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$IDS" ]] || { echo "--instance-ids is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

log "starting: $IDS"
# shellcheck disable=SC2086
run aws ec2 start-instances --region "$REGION" --instance-ids $IDS
# shellcheck disable=SC2086
run aws ec2 wait instance-status-ok --region "$REGION" --instance-ids $IDS
# shellcheck disable=SC2086
aws ec2 describe-instances --region "$REGION" --instance-ids $IDS \
  --query 'Reservations[].Instances[].[InstanceId,State.Name,PrivateIpAddress,PublicIpAddress]' \
  --output table
