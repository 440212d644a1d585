#!/usr/bin/env bash
# Delete NAT gateways idle for 30 days.
# Usage: <script> [--region REGION] [--dry-run]
set -euo pipefail

REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
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

for nat in $(aws ec2 describe-nat-gateways --region "$REGION" --filter Name=state,Values=available \
               --query 'NatGateways[].NatGatewayId' --output text); do
  bytes=$(aws cloudwatch get-metric-statistics --region "$REGION" --namespace AWS/NATGateway \
    --metric-name BytesOutToDestination --dimensions Name=NatGatewayId,Value="$nat" \
    --start-time "$(date -u -d '-30 days' +%FT%TZ)" --end-time "$(date -u +%FT%TZ)" --period 2592000 \
    --statistics Sum --query 'Datapoints[0].Sum' --output text)
  [[ "$bytes" == "None" || "${bytes%.*}" == "0" ]] && run aws ec2 delete-nat-gateway --region "$REGION" --nat-gateway-id "$nat"
done
