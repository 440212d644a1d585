#!/usr/bin/env bash
# Resize an Azure VM, deallocating only when required.
# Usage: <script> --resource-group RG --name VM --size SIZE [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
VM=""
SIZE=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --name) VM="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$VM" ]] || { echo "--name is required" >&2; usage; }
[[ -n "$SIZE" ]] || { echo "--size is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

current=$(az vm show -g "$RG" -n "$VM" --query hardwareProfile.vmSize -o tsv)
log "current size $current -> $SIZE"
if az vm list-vm-resize-options -g "$RG" -n "$VM" --query "[].name" -o tsv | grep -qx "$SIZE"; then
  run az vm resize -g "$RG" -n "$VM" --size "$SIZE"
else
  log "$SIZE not available on this cluster; deallocating first"
  run az vm deallocate -g "$RG" -n "$VM"
  run az vm resize -g "$RG" -n "$VM" --size "$SIZE"
  run az vm start -g "$RG" -n "$VM"
fi
log "rollback: $(basename "$0") --resource-group $RG --name $VM --size $current"
