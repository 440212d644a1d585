#!/usr/bin/env bash
# Start an Azure VM and wait for its guest agent.
# Usage: <script> --resource-group RG --name VM [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
VM=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --name) VM="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$VM" ]] || { echo "--name is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

run az vm start -g "$RG" -n "$VM"
[[ "$DRY_RUN" == true ]] && exit 0
for _ in $(seq 1 24); do
  agent=$(az vm get-instance-view -g "$RG" -n "$VM" --query "instanceView.vmAgent.statuses[0].displayStatus" -o tsv)
  [[ "$agent" == "Ready" ]] && break; sleep 5
done
log "agent: ${agent:-unknown}"
az vm list-ip-addresses -g "$RG" -n "$VM" -o table
