#!/usr/bin/env bash
# Encrypt an RDS instance by snapshot, encrypted copy and restore.
# Usage: <script> --instance-id DB [--kms-key KMS] [--region REGION] [--dry-run]
set -euo pipefail

DB=""
KMS="alias/aws/rds"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) DB="$2"; shift 2 ;;
    --kms-key) KMS="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DB" ]] || { echo "--instance-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

ts=$(date -u +%Y%m%d%H%M); snap="$DB-plain-$ts"; enc="$DB-enc-$ts"; new="$DB-enc"
read -r cls subnet pg < <(aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB" \
  --query 'DBInstances[0].[DBInstanceClass,DBSubnetGroup.DBSubnetGroupName,DBParameterGroups[0].DBParameterGroupName]' --output text)
run aws rds create-db-snapshot --region "$REGION" --db-instance-identifier "$DB" --db-snapshot-identifier "$snap"
run aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "$snap"
run aws rds copy-db-snapshot --region "$REGION" --source-db-snapshot-identifier "$snap" \
  --target-db-snapshot-identifier "$enc" --kms-key-id "$KMS"
run aws rds wait db-snapshot-available --region "$REGION" --db-snapshot-identifier "$enc"
run aws rds restore-db-instance-from-db-snapshot --region "$REGION" --db-instance-identifier "$new" \
  --db-snapshot-identifier "$enc" --db-instance-class "$cls" --db-subnet-group-name "$subnet" \
  --db-parameter-group-name "$pg"
run aws rds wait db-instance-available --region "$REGION" --db-instance-identifier "$new"
log "encrypted copy ready as $new; swap names after freezing writes:"
log "  aws rds modify-db-instance --db-instance-identifier $DB --new-db-instance-identifier $DB-unencrypted --apply-immediately"
log "  aws rds modify-db-instance --db-instance-identifier $new --new-db-instance-identifier $DB --apply-immediately"
