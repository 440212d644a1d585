#!/usr/bin/env bash
# Start a stopped Amazon RDS DB instance.
# Usage: <script> --instance-id DB_ID [--region REGION] [--dry-run]
set -euo pipefail

DB_ID=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) DB_ID="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DB_ID" ]] || { echo "--instance-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

status=$(aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB_ID" \
  --query 'DBInstances[0].DBInstanceStatus' --output text)
if [[ "$status" == "available" ]]; then log "$DB_ID already available"; exit 0; fi
[[ "$status" == "stopped" ]] || { echo "$DB_ID is '$status', cannot start" >&2; exit 1; }

log "starting $DB_ID"
run aws rds start-db-instance --region "$REGION" --db-instance-identifier "$DB_ID"
run aws rds wait db-instance-available --region "$REGION" --db-instance-identifier "$DB_ID"
aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB_ID" \
  --query 'DBInstances[0].Endpoint.[Address,Port]' --output text
