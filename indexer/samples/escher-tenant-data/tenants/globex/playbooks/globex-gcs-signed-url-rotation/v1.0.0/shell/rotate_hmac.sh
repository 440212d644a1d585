#!/usr/bin/env bash
# Rotate the partner-portal HMAC signing key.
# Usage: <script> --project PROJECT --service-account SA [--dry-run]
set -euo pipefail

PROJECT=""
SA=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --service-account) SA="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$SA" ]] || { echo "--service-account is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

old=$(gcloud storage hmac list --project "$PROJECT" --service-account "$SA" --filter 'state=ACTIVE' --format 'value(accessId)')
new=$(gcloud storage hmac create "$SA" --project "$PROJECT" --format json)
run gcloud secrets versions add partner-portal-hmac --project "$PROJECT" --data-file=<(echo "$new")
for id in $old; do run gcloud storage hmac update "$id" --project "$PROJECT" --deactivate; done
