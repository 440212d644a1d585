#!/usr/bin/env bash
# Scale the globex-analytics BigQuery reservation.
# Usage: <script> --project PROJECT --slots SLOTS [--location LOC] [--dry-run]
set -euo pipefail

PROJECT=""
SLOTS=""
LOC="EU"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --slots) SLOTS="$2"; shift 2 ;;
    --location) LOC="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$SLOTS" ]] || { echo "--slots is required" >&2; usage; }
command -v bq >/dev/null || { echo "bq CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

bq show --project_id "$PROJECT" --location "$LOC" --reservation globex-analytics
run bq update --project_id "$PROJECT" --location "$LOC" --reservation --slots "$SLOTS" globex-analytics
