#!/usr/bin/env bash
# Rotate an IAM user's access keys and publish the new one to Secrets Manager.
# Usage: <script> --user IAM_USER [--max-age-days MAX_AGE] [--secret-id SECRET_ID] [--dry-run]
set -euo pipefail

IAM_USER=""
MAX_AGE="90"
SECRET_ID=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --user) IAM_USER="$2"; shift 2 ;;
    --max-age-days) MAX_AGE="$2"; shift 2 ;;
    --secret-id) SECRET_ID="$2"; shift 2 ;;
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

SECRET_ID="${SECRET_ID:-iam/$IAM_USER/access-key}"
now=$(date +%s)
old_keys=()
while read -r kid created status; do
  age=$(( (now - $(date -d "$created" +%s)) / 86400 ))
  log "key $kid status=$status age=${age}d"
  (( age > MAX_AGE )) && old_keys+=("$kid")
done < <(aws iam list-access-keys --user-name "$IAM_USER" \
           --query 'AccessKeyMetadata[].[AccessKeyId,CreateDate,Status]' --output text)
(( ${#old_keys[@]} )) || { log "no key older than $MAX_AGE days"; exit 0; }

if [[ "$DRY_RUN" == true ]]; then
  echo "[dry-run] create key, store in $SECRET_ID, deactivate ${old_keys[*]}"; exit 0
fi
new=$(aws iam create-access-key --user-name "$IAM_USER" --output json)
aws secretsmanager put-secret-value --secret-id "$SECRET_ID" \
  --secret-string "$(jq -c '.AccessKey | {AccessKeyId, SecretAccessKey}' <<<"$new")"
for kid in "${old_keys[@]}"; do
  aws iam update-access-key --user-name "$IAM_USER" --access-key-id "$kid" --status Inactive
  log "deactivated $kid"
done
