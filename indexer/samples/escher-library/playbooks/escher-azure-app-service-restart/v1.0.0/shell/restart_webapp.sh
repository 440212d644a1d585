#!/usr/bin/env bash
# Restart an Azure web app and wait for its health check.
# Usage: <script> --resource-group RG --name APP [--slot SLOT] [--health-path HEALTH] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
APP=""
SLOT=""
HEALTH="/health"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --name) APP="$2"; shift 2 ;;
    --slot) SLOT="$2"; shift 2 ;;
    --health-path) HEALTH="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$APP" ]] || { echo "--name is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

slot_args=(); [[ -n "$SLOT" ]] && slot_args=(--slot "$SLOT")
host=$(az webapp show -g "$RG" -n "$APP" "${slot_args[@]}" --query defaultHostName -o tsv)
t0=$(date +%s)
run az webapp restart -g "$RG" -n "$APP" "${slot_args[@]}"
[[ "$DRY_RUN" == true ]] && exit 0
for _ in $(seq 1 60); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "https://$host$HEALTH" || true)
  [[ "$code" == 200 ]] && { log "healthy after $(( $(date +%s) - t0 ))s"; exit 0; }
  sleep 5
done
echo "not healthy after 5 minutes (last HTTP $code)" >&2; exit 1
