#!/usr/bin/env bash
# Start a Cloud SQL instance (activation policy ALWAYS).
# Usage: <script> --project PROJECT --instance INSTANCE [--dry-run]
set -euo pipefail

PROJECT=""
INSTANCE=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --instance) INSTANCE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$INSTANCE" ]] || { echo "--instance is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

log "start $INSTANCE"
run gc sql instances patch "$INSTANCE" --activation-policy=ALWAYS
gc sql instances describe "$INSTANCE" --format 'value(name,state,settings.activationPolicy)'
