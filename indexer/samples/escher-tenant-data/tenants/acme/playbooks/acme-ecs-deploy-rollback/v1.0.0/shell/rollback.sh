#!/usr/bin/env bash
# Roll an ECS service back to the previous task definition revision.
# Usage: <script> --cluster CLUSTER --service SERVICE [--pipeline PIPELINE] [--region REGION] [--dry-run]
set -euo pipefail

CLUSTER=""
SERVICE=""
PIPELINE=""
REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) CLUSTER="$2"; shift 2 ;;
    --service) SERVICE="$2"; shift 2 ;;
    --pipeline) PIPELINE="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$SERVICE" ]] || { echo "--service is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

current=$(aws ecs describe-services --region "$REGION" --cluster "$CLUSTER" --services "$SERVICE" \
  --query 'services[0].taskDefinition' --output text)
family_rev="${current##*/}"; family="${family_rev%:*}"; rev="${family_rev##*:}"
(( rev > 1 )) || { echo "no previous revision for $family" >&2; exit 1; }
prev="$family:$((rev - 1))"
log "rolling $SERVICE back: $family_rev -> $prev"
run aws ecs update-service --region "$REGION" --cluster "$CLUSTER" --service "$SERVICE" --task-definition "$prev" \
  --query service.taskDefinition --output text
if [[ -n "$PIPELINE" ]]; then
  run aws codepipeline disable-stage-transition --region "$REGION" --pipeline-name "$PIPELINE" \
    --stage-name Deploy --transition-type Inbound --reason "rollback of $family_rev"
fi
run aws ecs wait services-stable --region "$REGION" --cluster "$CLUSTER" --services "$SERVICE"
