#!/usr/bin/env bash
# Scale an ECS service to a desired task count.
# Usage: <script> --cluster CLUSTER --service SERVICE --count COUNT [--region REGION] [--dry-run]
set -euo pipefail

CLUSTER=""
SERVICE=""
COUNT=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) CLUSTER="$2"; shift 2 ;;
    --service) SERVICE="$2"; shift 2 ;;
    --count) COUNT="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$SERVICE" ]] || { echo "--service is required" >&2; usage; }
[[ -n "$COUNT" ]] || { echo "--count is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

prev=$(aws ecs describe-services --region "$REGION" --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].desiredCount' --output text)
log "desired count $prev -> $COUNT"
run aws application-autoscaling register-scalable-target --region "$REGION" \
  --service-namespace ecs --scalable-dimension ecs:service:DesiredCount \
  --resource-id "service/$CLUSTER/$SERVICE" --min-capacity "$COUNT" --max-capacity "$(( COUNT * 2 > 1 ? COUNT * 2 : 1 ))"
run aws ecs update-service --region "$REGION" --cluster "$CLUSTER" --service "$SERVICE" --desired-count "$COUNT" \
  --query service.desiredCount --output text
run aws ecs wait services-stable --region "$REGION" --cluster "$CLUSTER" --services "$SERVICE"
log "stable at $COUNT tasks (rollback: --count $prev)"
