#!/usr/bin/env bash
# Globex: weekend stop/start schedule for an Azure SQL Managed Instance.
# Usage: <script> --resource-group RG --managed-instance MI [--timezone TZ_NAME] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
MI=""
TZ_NAME="Central Europe Standard Time"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --managed-instance) MI="$2"; shift 2 ;;
    --timezone) TZ_NAME="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$MI" ]] || { echo "--managed-instance is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi
schedule='[{"startDay":"Monday","startTime":"06:00","stopDay":"Friday","stopTime":"20:00"}]'
log "schedule for $MI: $schedule ($TZ_NAME)"
run az sql mi start-stop-schedule create -g "$RG" --mi "$MI" --timezone-id "$TZ_NAME" --schedule-list "$schedule"
az sql mi start-stop-schedule show -g "$RG" --mi "$MI" -o json
