#!/usr/bin/env bash
# Switch a DynamoDB table to on-demand capacity.
# Usage: <script> --table TABLE [--region REGION] [--dry-run]
set -euo pipefail

TABLE=""
REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --table) TABLE="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$TABLE" ]] || { echo "--table is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

for dim in dynamodb:table:ReadCapacityUnits dynamodb:table:WriteCapacityUnits; do
  run aws application-autoscaling deregister-scalable-target --region "$REGION" --service-namespace dynamodb \
    --resource-id "table/$TABLE" --scalable-dimension "$dim" || true
done
run aws dynamodb update-table --region "$REGION" --table-name "$TABLE" --billing-mode PAY_PER_REQUEST
run aws dynamodb wait table-exists --region "$REGION" --table-name "$TABLE"
aws dynamodb describe-table --region "$REGION" --table-name "$TABLE" --query 'Table.BillingModeSummary'
