#!/usr/bin/env bash
# Install EventBridge Scheduler schedules that stop tagged RDS instances on Friday and start them on Monday.
# Usage: <script> [--region REGION] --role-arn ROLE_ARN [--tag-value TAG_VALUE] [--timezone TZ_NAME] [--dry-run]
set -euo pipefail

REGION="${AWS_REGION:-us-east-1}"
ROLE_ARN=""
TAG_VALUE="weekend-off"
TZ_NAME="Europe/Berlin"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
    --role-arn) ROLE_ARN="$2"; shift 2 ;;
    --tag-value) TAG_VALUE="$2"; shift 2 ;;
    --timezone) TZ_NAME="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$ROLE_ARN" ]] || { echo "--role-arn is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

ids=$(aws resourcegroupstaggingapi get-resources --region "$REGION" --resource-type-filters rds:db \
  --tag-filters "Key=Schedule,Values=$TAG_VALUE" --query 'ResourceTagMappingList[].ResourceARN' --output text)
[[ -n "$ids" ]] || { log "no instances tagged Schedule=$TAG_VALUE"; exit 0; }

run aws scheduler create-schedule-group --region "$REGION" --name rds-weekend || true
for arn in $ids; do
  db="${arn##*:}"
  input=$(printf '{"DbInstanceIdentifier":"%s"}' "$db")
  for action in stop start; do
    if [[ $action == stop ]]; then cron="cron(0 19 ? * FRI *)"; api=stopDBInstance
    else cron="cron(0 7 ? * MON *)"; api=startDBInstance; fi
    target=$(jq -nc --arg arn "arn:aws:scheduler:::aws-sdk:rds:${api}" --arg role "$ROLE_ARN" \
      --arg input "$input" '{Arn: $arn, RoleArn: $role, Input: $input}')
    log "schedule $action for $db ($cron $TZ_NAME)"
    run aws scheduler create-schedule --region "$REGION" --group-name rds-weekend \
      --name "rds-${action}-${db}" --schedule-expression "$cron" \
      --schedule-expression-timezone "$TZ_NAME" --flexible-time-window Mode=OFF --target "$target"
  done
done
