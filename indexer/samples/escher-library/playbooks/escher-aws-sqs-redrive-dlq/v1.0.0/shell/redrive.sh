#!/usr/bin/env bash
# Redrive messages from an SQS dead-letter queue.
# Usage: <script> --dlq-url DLQ_URL [--dest-arn DEST_ARN] [--rate RATE] [--region REGION] [--dry-run]
set -euo pipefail

DLQ_URL=""
DEST_ARN=""
RATE="50"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --dlq-url) DLQ_URL="$2"; shift 2 ;;
    --dest-arn) DEST_ARN="$2"; shift 2 ;;
    --rate) RATE="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DLQ_URL" ]] || { echo "--dlq-url is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

dlq_arn=$(aws sqs get-queue-attributes --region "$REGION" --queue-url "$DLQ_URL" \
  --attribute-names QueueArn ApproximateNumberOfMessages --query Attributes.QueueArn --output text)
depth=$(aws sqs get-queue-attributes --region "$REGION" --queue-url "$DLQ_URL" \
  --attribute-names ApproximateNumberOfMessages --query Attributes.ApproximateNumberOfMessages --output text)
log "$depth messages in $dlq_arn"
(( depth > 0 )) || exit 0
args=(--source-arn "$dlq_arn" --max-number-of-messages-per-second "$RATE")
[[ -n "$DEST_ARN" ]] && args+=(--destination-arn "$DEST_ARN")
run aws sqs start-message-move-task --region "$REGION" "${args[@]}"
[[ "$DRY_RUN" == true ]] && exit 0
while :; do
  st=$(aws sqs list-message-move-tasks --region "$REGION" --source-arn "$dlq_arn" --max-results 1 \
    --query 'Results[0].[Status,ApproximateNumberOfMessagesMoved]' --output text)
  log "task: $st"; [[ "$st" == RUNNING* ]] || break; sleep 15
done
