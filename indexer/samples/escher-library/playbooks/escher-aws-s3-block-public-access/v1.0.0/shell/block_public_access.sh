#!/usr/bin/env bash
# Enable S3 Block Public Access for a bucket or the whole account.
# Usage: <script> [--bucket BUCKET] [--account-id ACCOUNT] [--dry-run]
set -euo pipefail

BUCKET=""
ACCOUNT=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --bucket) BUCKET="$2"; shift 2 ;;
    --account-id) ACCOUNT="$2"; shift 2 ;;
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

cfg="BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
if [[ -n "$BUCKET" ]]; then
  aws s3api get-public-access-block --bucket "$BUCKET" > "/tmp/pab-$BUCKET.json" 2>/dev/null || true
  aws s3api get-bucket-policy-status --bucket "$BUCKET" --query PolicyStatus.IsPublic --output text 2>/dev/null || true
  run aws s3api put-public-access-block --bucket "$BUCKET" --public-access-block-configuration "$cfg"
  aws s3api get-public-access-block --bucket "$BUCKET"
elif [[ -n "$ACCOUNT" ]]; then
  run aws s3control put-public-access-block --account-id "$ACCOUNT" --public-access-block-configuration "$cfg"
  aws s3control get-public-access-block --account-id "$ACCOUNT"
else
  echo "give --bucket or --account-id" >&2; exit 2
fi
