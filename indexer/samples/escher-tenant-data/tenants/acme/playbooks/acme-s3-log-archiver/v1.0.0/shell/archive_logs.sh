#!/usr/bin/env bash
# Archive CloudFront logs older than N days to Glacier Deep Archive.
# Usage: <script> [--bucket BUCKET] [--days DAYS] [--dry-run]
set -euo pipefail

BUCKET="acme-cdn-logs"
DAYS="30"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bucket) BUCKET="$2"; shift 2 ;;
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

cutoff=$(date -u -d "-$DAYS days" +%Y-%m-%d)
aws s3api list-objects-v2 --bucket "$BUCKET" --query "Contents[?LastModified<'$cutoff'].Key" --output text |
  tr '\t' '\n' | while read -r key; do
    [[ -n "$key" && "$key" != None ]] || continue
    run aws s3 cp "s3://$BUCKET/$key" "s3://$BUCKET/archive/$key" --storage-class DEEP_ARCHIVE
    run aws s3 rm "s3://$BUCKET/$key"
  done
