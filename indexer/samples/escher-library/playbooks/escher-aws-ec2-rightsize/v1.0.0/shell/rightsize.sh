#!/usr/bin/env bash
# Resize an EC2 instance after checking 14-day CPU utilisation.
# Usage: <script> --instance-id ID [--target-type TARGET] [--max-cpu MAX_CPU] [--region REGION] [--dry-run]
set -euo pipefail

ID=""
TARGET=""
MAX_CPU="40"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) ID="$2"; shift 2 ;;
    --target-type) TARGET="$2"; shift 2 ;;
    --max-cpu) MAX_CPU="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$ID" ]] || { echo "--instance-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

start=$(date -u -d '14 days ago' +%Y-%m-%dT%H:%M:%SZ); end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
p95=$(aws cloudwatch get-metric-statistics --region "$REGION" --namespace AWS/EC2 \
  --metric-name CPUUtilization --dimensions Name=InstanceId,Value="$ID" \
  --start-time "$start" --end-time "$end" --period 3600 --extended-statistics p95 \
  --query 'max(Datapoints[].ExtendedStatistics.p95)' --output text)
log "p95 CPU over 14 days: $p95%"
if awk -v a="$p95" -v b="$MAX_CPU" 'BEGIN{exit !(a>b)}'; then
  echo "CPU too high to downsize ($p95% > $MAX_CPU%)" >&2; exit 1
fi
if [[ -z "$TARGET" ]]; then
  arn="arn:aws:ec2:${REGION}:$(aws sts get-caller-identity --query Account --output text):instance/${ID}"
  TARGET=$(aws compute-optimizer get-ec2-instance-recommendations --region "$REGION" \
    --instance-arns "$arn" --query 'instanceRecommendations[0].recommendationOptions[0].instanceType' --output text)
fi
current=$(aws ec2 describe-instances --region "$REGION" --instance-ids "$ID" \
  --query 'Reservations[0].Instances[0].InstanceType' --output text)
log "resizing $ID: $current -> $TARGET"
run aws ec2 stop-instances --region "$REGION" --instance-ids "$ID"
run aws ec2 wait instance-stopped --region "$REGION" --instance-ids "$ID"
run aws ec2 modify-instance-attribute --region "$REGION" --instance-id "$ID" --instance-type "Value=$TARGET"
run aws ec2 start-instances --region "$REGION" --instance-ids "$ID"
run aws ec2 wait instance-status-ok --region "$REGION" --instance-ids "$ID"
log "done ($current -> $TARGET)"
