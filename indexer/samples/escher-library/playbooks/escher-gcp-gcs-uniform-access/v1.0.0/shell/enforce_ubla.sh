#!/usr/bin/env bash
# Enable uniform bucket-level access and public access prevention on a bucket.
# Usage: <script> --project PROJECT --bucket BUCKET [--pap PAP] [--dry-run]
set -euo pipefail

PROJECT=""
BUCKET=""
PAP="true"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --bucket) BUCKET="$2"; shift 2 ;;
    --pap) PAP="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$BUCKET" ]] || { echo "--bucket is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

b="gs://${BUCKET#gs://}"
public=$(gc storage buckets get-iam-policy "$b" --format json | \
  jq -r '.bindings[]? | select(.members[] | test("allUsers|allAuthenticatedUsers")) | .role')
[[ -n "$public" ]] && log "WARNING public roles on $b: $public"
args=(--uniform-bucket-level-access)
[[ "$PAP" == true ]] && args+=(--public-access-prevention)
run gc storage buckets update "$b" "${args[@]}"
gc storage buckets describe "$b" --format 'yaml(uniform_bucket_level_access,public_access_prevention)'
