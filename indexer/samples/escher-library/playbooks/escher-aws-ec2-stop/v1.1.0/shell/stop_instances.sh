#!/usr/bin/env bash
# Stop EC2 instances by id or by tag.
# Usage: <script> [--instance-ids IDS] [--tag TAG] [--region REGION] [--hibernate HIBERNATE] [--dry-run]
set -euo pipefail

IDS=""
TAG=""
REGION="${AWS_REGION:-us-east-1}"
HIBERNATE="false"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-ids) IDS="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --hibernate) HIBERNATE="$2"; shift 2 ;;
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

if [[ -z "$IDS" && -n "$TAG" ]]; then
  IDS=$(aws ec2 describe-instances --region "$REGION" \
    --filters "Name=tag:${TAG%%=*},Values=${TAG#*=}" Name=instance-state-name,Values=running \
    --query 'Reservations[].Instances[].InstanceId' --output text)
fi
[[ -n "$IDS" ]] || { echo "nothing to stop (give --instance-ids or --tag)" >&2; exit 1; }

extra=()
[[ "$HIBERNATE" == "true" ]] && extra+=(--hibernate)
log "stopping: $IDS"
# shellcheck disable=SC2086
run aws ec2 stop-instances --region "$REGION" --instance-ids $IDS "${extra[@]}"
# shellcheck disable=SC2086
run aws ec2 wait instance-stopped --region "$REGION" --instance-ids $IDS
log "stopped"
