#!/usr/bin/env bash
# Create a high-CPU CloudWatch alarm for an EC2 instance.
# Usage: <script> --instance-id ID [--threshold THRESHOLD] [--email EMAIL] [--region REGION] [--dry-run]
set -euo pipefail

ID=""
THRESHOLD="80"
EMAIL=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) ID="$2"; shift 2 ;;
    --threshold) THRESHOLD="$2"; shift 2 ;;
    --email) EMAIL="$2"; shift 2 ;;
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

topic=$(aws sns create-topic --region "$REGION" --name ops-alerts --query TopicArn --output text)
[[ -n "$EMAIL" ]] && run aws sns subscribe --region "$REGION" --topic-arn "$topic" --protocol email --notification-endpoint "$EMAIL"
run aws cloudwatch put-metric-alarm --region "$REGION" --alarm-name "cpu-high-$ID" \
  --namespace AWS/EC2 --metric-name CPUUtilization --dimensions "Name=InstanceId,Value=$ID" \
  --statistic Average --period 300 --evaluation-periods 3 --datapoints-to-alarm 3 \
  --threshold "$THRESHOLD" --comparison-operator GreaterThanThreshold \
  --treat-missing-data missing --alarm-actions "$topic" --ok-actions "$topic"
aws cloudwatch describe-alarms --region "$REGION" --alarm-names "cpu-high-$ID" \
  --query 'MetricAlarms[0].[AlarmName,StateValue]' --output text
