#!/usr/bin/env bash
# Snapshot and detach an EBS volume.
# Usage: <script> --volume-id VOL [--force FORCE] [--snapshot SNAP] [--region REGION] [--dry-run]
set -euo pipefail

VOL=""
FORCE="false"
SNAP="true"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --volume-id) VOL="$2"; shift 2 ;;
    --force) FORCE="$2"; shift 2 ;;
    --snapshot) SNAP="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$VOL" ]] || { echo "--volume-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ "$SNAP" == true ]]; then
  run aws ec2 create-snapshot --region "$REGION" --volume-id "$VOL" --description "pre-detach $VOL"
fi
extra=(); [[ "$FORCE" == true ]] && extra+=(--force)
run aws ec2 detach-volume --region "$REGION" --volume-id "$VOL" "${extra[@]}"
run aws ec2 wait volume-available --region "$REGION" --volume-ids "$VOL"
log "detached $VOL"
