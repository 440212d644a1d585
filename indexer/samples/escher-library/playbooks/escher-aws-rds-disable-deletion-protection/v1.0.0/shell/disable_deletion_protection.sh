#!/usr/bin/env bash
# Disable deletion protection on an RDS instance or Aurora cluster.
# Usage: <script> --db DB [--cluster IS_CLUSTER] [--region REGION] [--dry-run]
set -euo pipefail

DB=""
IS_CLUSTER="false"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --db) DB="$2"; shift 2 ;;
    --cluster) IS_CLUSTER="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DB" ]] || { echo "--db is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ "$IS_CLUSTER" == true ]]; then
  run aws rds modify-db-cluster --region "$REGION" --db-cluster-identifier "$DB" --no-deletion-protection --apply-immediately
  aws rds describe-db-clusters --region "$REGION" --db-cluster-identifier "$DB" \
    --query 'DBClusters[0].DeletionProtection' --output text
else
  run aws rds modify-db-instance --region "$REGION" --db-instance-identifier "$DB" --no-deletion-protection --apply-immediately
  aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB" \
    --query 'DBInstances[0].DeletionProtection' --output text
fi
if [[ "$IS_CLUSTER" != true ]]; then
  arn=$(aws rds describe-db-instances --region "$REGION" --db-instance-identifier "$DB" --query 'DBInstances[0].DBInstanceArn' --output text)
  run aws rds add-tags-to-resource --region "$REGION" --resource-name "$arn" --tags "Key=deletion-protection-disabled-by,Value=${USER:-escher}"
fi
