#!/usr/bin/env bash
# Stop or suspend Compute Engine instances by name or label.
# Usage: <script> --project PROJECT --zone ZONE [--name NAME] [--filter FILTER] [--suspend SUSPEND] [--dry-run]
set -euo pipefail

PROJECT=""
ZONE=""
NAME=""
FILTER=""
SUSPEND="false"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --zone) ZONE="$2"; shift 2 ;;
    --name) NAME="$2"; shift 2 ;;
    --filter) FILTER="$2"; shift 2 ;;
    --suspend) SUSPEND="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$ZONE" ]] || { echo "--zone is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

if [[ -n "$NAME" ]]; then names="$NAME"
elif [[ -n "$FILTER" ]]; then
  names=$(gc compute instances list --zones "$ZONE" --filter "status=RUNNING AND $FILTER" --format 'value(name)')
else echo "give --name or --filter" >&2; exit 2; fi
[[ -n "$names" ]] || { log "nothing running matched"; exit 0; }
verb=stop; [[ "$SUSPEND" == true ]] && verb=suspend
log "$verb: $names"
# shellcheck disable=SC2086
run gc compute instances "$verb" $names --zone "$ZONE"
gc compute instances list --zones "$ZONE" --filter "name:($(echo $names | tr ' ' ','))" --format 'table(name,status)'
