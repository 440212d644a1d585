#!/usr/bin/env bash
# Convert an EBS gp2 volume to gp3.
# Usage: <script> --volume-id VOL [--region REGION] [--dry-run]
set -euo pipefail

VOL=""
REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --volume-id) VOL="$2"; shift 2 ;;
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

run aws ec2 modify-volume --region "$REGION" --volume-id "$VOL" --volume-type gp3
