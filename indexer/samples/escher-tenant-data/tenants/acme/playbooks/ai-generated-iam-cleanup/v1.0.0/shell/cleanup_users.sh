#!/usr/bin/env bash
# AI-generated: delete IAM users inactive for N days.
# Usage: <script> [--days DAYS] [--dry-run]
set -euo pipefail

DAYS="30"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --days) DAYS="$2"; shift 2 ;;
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

aws iam generate-credential-report >/dev/null; sleep 5
cutoff=$(date -u -d "-$DAYS days" +%s)
aws iam get-credential-report --query Content --output text | base64 -d | tail -n +2 |
  while IFS=, read -r user _arn _created _pw pw_last _rest; do
    [[ "$user" == "<root_account>" ]] && continue
    last=$(date -u -d "${pw_last/N\/A/1970-01-01}" +%s 2>/dev/null || echo 0)
    (( last < cutoff )) || continue
    log "deleting $user"
    for k in $(aws iam list-access-keys --user-name "$user" --query 'AccessKeyMetadata[].AccessKeyId' --output text); do
      run aws iam delete-access-key --user-name "$user" --access-key-id "$k"
    done
    run aws iam delete-user --user-name "$user"
  done
