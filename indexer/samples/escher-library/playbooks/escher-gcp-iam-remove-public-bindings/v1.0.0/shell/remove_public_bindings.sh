#!/usr/bin/env bash
# Remove allUsers/allAuthenticatedUsers from project and bucket IAM policies.
# Usage: <script> --project PROJECT [--exclude EXCLUDE] [--dry-run]
set -euo pipefail

PROJECT=""
EXCLUDE=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --exclude) EXCLUDE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

backup="iam-backup-$(date +%s)"; mkdir -p "$backup"
gc projects get-iam-policy "$PROJECT" --format json > "$backup/project.json"
for b in $(gc storage buckets list --format 'value(name)'); do
  [[ ",$EXCLUDE," == *",$b,"* ]] && { log "skip excluded $b"; continue; }
  gc storage buckets get-iam-policy "gs://$b" --format json > "$backup/bucket-$b.json"
  jq -r '.bindings[]? | .role as $r | .members[] | select(. == "allUsers" or . == "allAuthenticatedUsers") | "\($r) \(.)"' \
    "$backup/bucket-$b.json" | while read -r role member; do
      log "gs://$b: remove $member from $role"
      run gc storage buckets remove-iam-policy-binding "gs://$b" --member "$member" --role "$role"
    done
done
jq -r '.bindings[]? | .role as $r | .members[] | select(. == "allUsers" or . == "allAuthenticatedUsers") | "\($r) \(.)"' \
  "$backup/project.json" | while read -r role member; do
    log "project: remove $member from $role"
    run gc projects remove-iam-policy-binding "$PROJECT" --member "$member" --role "$role"
  done
log "backups in $backup/"
