#!/usr/bin/env bash
# Start or resume a Compute Engine instance.
# Usage: <script> --project PROJECT --zone ZONE --name NAME [--dry-run]
set -euo pipefail

PROJECT=""
ZONE=""
NAME=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --zone) ZONE="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$ZONE" ]] || { echo "--zone is required" >&2; usage; }
[[ -n "$NAME" ]] || { echo "--name is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

status=$(gc compute instances describe "$NAME" --zone "$ZONE" --format 'value(status)')
case "$status" in
  RUNNING) log "$NAME already running" ;;
  SUSPENDED) run gc compute instances resume "$NAME" --zone "$ZONE" ;;
  TERMINATED) run gc compute instances start "$NAME" --zone "$ZONE" ;;
  *) echo "$NAME is $status" >&2; exit 1 ;;
esac
gc compute instances describe "$NAME" --zone "$ZONE" \
  --format 'table(name,status,networkInterfaces[0].networkIP,networkInterfaces[0].accessConfigs[0].natIP)'
