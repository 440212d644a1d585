#!/usr/bin/env bash
# Invalidate CloudFront paths and wait.
# Usage: <script> --distribution DIST [--paths PATHS] [--dry-run]
set -euo pipefail

DIST=""
PATHS="/*"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --distribution) DIST="$2"; shift 2 ;;
    --paths) PATHS="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DIST" ]] || { echo "--distribution is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

# shellcheck disable=SC2086
id=$(aws cloudfront create-invalidation --distribution-id "$DIST" --paths $PATHS --query Invalidation.Id --output text)
[[ "$DRY_RUN" == true ]] && { log "dry-run: would invalidate $PATHS"; exit 0; }
aws cloudfront wait invalidation-completed --distribution-id "$DIST" --id "$id"
log "invalidation $id completed"
