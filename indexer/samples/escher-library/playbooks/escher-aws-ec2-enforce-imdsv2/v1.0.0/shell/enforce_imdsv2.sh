#!/usr/bin/env bash
# Require IMDSv2 on EC2 instances after checking for IMDSv1 callers.
# Usage: <script> --instance-ids IDS [--hop-limit HOPS] [--force FORCE] [--region REGION] [--dry-run]
set -euo pipefail

IDS=""
HOPS="2"
FORCE="false"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-ids) IDS="$2"; shift 2 ;;
    --hop-limit) HOPS="$2"; shift 2 ;;
    --force) FORCE="$2"; shift 2 ;;
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

start=$(date -u -d '14 days ago' +%Y-%m-%dT%H:%M:%SZ); end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
for id in $IDS; do
  v1=$(aws cloudwatch get-metric-statistics --region "$REGION" --namespace AWS/EC2 --metric-name MetadataNoToken \
    --dimensions Name=InstanceId,Value="$id" --start-time "$start" --end-time "$end" --period 86400 \
    --statistics Sum --query 'sum(Datapoints[].Sum)' --output text)
  if [[ "${v1%.*}" != "0" && "$FORCE" != true ]]; then
    log "skip $id: $v1 IMDSv1 calls in 14 days (use --force true)"; continue
  fi
  log "requiring IMDSv2 on $id"
  run aws ec2 modify-instance-metadata-options --region "$REGION" --instance-id "$id" \
    --http-tokens required --http-put-response-hop-limit "$HOPS" --http-endpoint enabled
done
