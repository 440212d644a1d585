#!/usr/bin/env bash
# Set or remove reserved concurrency on a Lambda function.
# Usage: <script> --function FN --limit LIMIT [--region REGION] [--dry-run]
set -euo pipefail

FN=""
LIMIT=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --function) FN="$2"; shift 2 ;;
    --limit) LIMIT="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$FN" ]] || { echo "--function is required" >&2; usage; }
[[ -n "$LIMIT" ]] || { echo "--limit is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

prev=$(aws lambda get-function-concurrency --region "$REGION" --function-name "$FN" \
  --query ReservedConcurrentExecutions --output text)
log "current reserved concurrency: ${prev:-none}"
if [[ "$LIMIT" == "-1" ]]; then
  run aws lambda delete-function-concurrency --region "$REGION" --function-name "$FN"
else
  run aws lambda put-function-concurrency --region "$REGION" --function-name "$FN" \
    --reserved-concurrent-executions "$LIMIT"
fi
log "rollback: $(basename "$0") --function $FN --limit ${prev:--1}"
