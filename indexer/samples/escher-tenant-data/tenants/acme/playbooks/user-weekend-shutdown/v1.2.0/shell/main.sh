#!/usr/bin/env bash
# Acme weekend DB shutdown: snapshot and stop production RDS instances/Aurora clusters tagged acme:weekend-shutdown=true.
# Usage: <script> [--region REGION] [--skip-snapshot SKIP_SNAPSHOT] [--dry-run]
set -euo pipefail

REGION="${AWS_REGION:-eu-central-1}"
SKIP_SNAPSHOT="false"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
    --skip-snapshot) SKIP_SNAPSHOT="$2"; shift 2 ;;
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

stamp=$(date -u +%Y%m%d-%H%M)
tagged() {
  aws resourcegroupstaggingapi get-resources --region "$REGION" --resource-type-filters "$1" \
    --tag-filters Key=acme:weekend-shutdown,Values=true --query 'ResourceTagMappingList[].ResourceARN' --output text
}

for arn in $(tagged rds:db); do
  db="${arn##*:}"
  conns=$(aws cloudwatch get-metric-statistics --region "$REGION" --namespace AWS/RDS --metric-name DatabaseConnections \
    --dimensions Name=DBInstanceIdentifier,Value="$db" --start-time "$(date -u -d '-10 min' +%FT%TZ)" \
    --end-time "$(date -u +%FT%TZ)" --period 300 --statistics Maximum --query 'max(Datapoints[].Maximum)' --output text)
  log "$db: max connections last 10 min = $conns"
  if [[ "$SKIP_SNAPSHOT" != true ]]; then
    run aws rds create-db-snapshot --region "$REGION" --db-instance-identifier "$db" \
      --db-snapshot-identifier "weekend-shutdown-$db-$stamp"
    run aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "weekend-shutdown-$db-$stamp"
  fi
  run aws rds stop-db-instance --region "$REGION" --db-instance-identifier "$db"
done

for arn in $(tagged rds:cluster); do
  cluster="${arn##*:}"
  [[ "$SKIP_SNAPSHOT" != true ]] && run aws rds create-db-cluster-snapshot --region "$REGION" \
    --db-cluster-identifier "$cluster" --db-cluster-snapshot-identifier "weekend-shutdown-$cluster-$stamp"
  run aws rds stop-db-cluster --region "$REGION" --db-cluster-identifier "$cluster"
done
log "weekend shutdown requested; #acme-dba notified by the EventBridge rule on RDS-EVENT-0087"
