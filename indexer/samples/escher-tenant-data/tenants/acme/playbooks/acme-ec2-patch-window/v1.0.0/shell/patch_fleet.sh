#!/usr/bin/env bash
# Patch the acme payments fleet AZ by AZ with SSM Patch Manager.
# Usage: <script> [--region REGION] [--app APP] [--operation OPERATION] [--dry-run]
set -euo pipefail

REGION="${AWS_REGION:-eu-central-1}"
APP="payments"
OPERATION="Install"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
    --app) APP="$2"; shift 2 ;;
    --operation) OPERATION="$2"; shift 2 ;;
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

for az in $(aws ec2 describe-instances --region "$REGION" --filters "Name=tag:app,Values=$APP" \
              Name=instance-state-name,Values=running \
              --query 'Reservations[].Instances[].Placement.AvailabilityZone' --output text | tr '\t' '\n' | sort -u); do
  ids=$(aws ec2 describe-instances --region "$REGION" --filters "Name=tag:app,Values=$APP" \
    "Name=availability-zone,Values=$az" Name=instance-state-name,Values=running \
    --query 'Reservations[].Instances[].InstanceId' --output text)
  log "patching $az: $ids"
  # shellcheck disable=SC2086
  run aws ssm send-command --region "$REGION" --document-name AWS-RunPatchBaseline --instance-ids $ids \
    --parameters "Operation=$OPERATION,RebootOption=RebootIfNeeded" --max-concurrency 33% --max-errors 1
done
aws ssm list-compliance-summaries --region "$REGION" --filters Key=ComplianceType,Values=Patch,Type=EQUAL
