#!/usr/bin/env bash
# Snapshot and stop an Amazon RDS DB instance.
# Usage: <script> --instance-id DB_ID [--region REGION] [--snapshot-name SNAPSHOT] [--skip-snapshot SKIP_SNAPSHOT] [--dry-run]
set -euo pipefail

DB_ID=""
REGION="${AWS_REGION:-us-east-1}"
SNAPSHOT=""
SKIP_SNAPSHOT="false"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) DB_ID="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --snapshot-name) SNAPSHOT="$2"; shift 2 ;;
    --skip-snapshot) SKIP_SNAPSHOT="$2"; shift 2 ;;
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
if [[ "$status" != "available" ]]; then
  echo "instance $DB_ID is '$status', expected 'available'" >&2; exit 1
fi

if [[ "$SKIP_SNAPSHOT" != "true" ]]; then
  SNAPSHOT="${SNAPSHOT:-pre-stop-${DB_ID}-$(date -u +%Y%m%d%H%M)}"
  log "creating snapshot $SNAPSHOT"
  run aws rds create-db-snapshot --region "$REGION" \
    --db-instance-identifier "$DB_ID" --db-snapshot-identifier "$SNAPSHOT"
  run aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "$SNAPSHOT"
fi

log "stopping $DB_ID"
run aws rds stop-db-instance --region "$REGION" --db-instance-identifier "$DB_ID"
run aws rds wait db-instance-stopped --region "$REGION" --db-instance-identifier "$DB_ID"
log "done: $DB_ID is stopped"
