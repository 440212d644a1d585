#!/usr/bin/env bash
# Create a new IAM access key and deactivate keys older than 90 days.
# Usage: <script> --user IAM_USER [--max-age-days MAX_AGE] [--dry-run]
set -euo pipefail

IAM_USER=""
MAX_AGE="90"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --user) IAM_USER="$2"; shift 2 ;;
    --max-age-days) MAX_AGE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$IAM_USER" ]] || { echo "--user is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

now=$(date +%s)
stale=$(aws iam list-access-keys --user-name "$IAM_USER" \
  --query 'AccessKeyMetadata[].[AccessKeyId,CreateDate]' --output text |
  while read -r kid created; do
    (( (now - $(date -d "$created" +%s)) / 86400 > MAX_AGE )) && echo "$kid"
  done || true)
[[ -n "$stale" ]] || { log "no key older than $MAX_AGE days"; exit 0; }
run aws iam create-access-key --user-name "$IAM_USER" --output table
for kid in $stale; do
  run aws iam update-access-key --user-name "$IAM_USER" --access-key-id "$kid" --status Inactive
done
