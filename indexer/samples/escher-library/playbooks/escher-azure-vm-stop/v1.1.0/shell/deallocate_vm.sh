#!/usr/bin/env bash
# Stop (deallocate) an Azure VM or every tagged VM in a resource group.
# Usage: <script> --resource-group RG [--name VM] [--tag TAG] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
VM=""
TAG=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --name) VM="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

if [[ -n "$VM" ]]; then
  ids=$(az vm show -g "$RG" -n "$VM" --query id -o tsv)
elif [[ -n "$TAG" ]]; then
  ids=$(az vm list -g "$RG" --query "[?tags.${TAG%%=*}=='${TAG#*=}'].id" -o tsv)
else
  echo "give --name or --tag" >&2; exit 2
fi
[[ -n "$ids" ]] || { log "no VMs matched"; exit 0; }
# shellcheck disable=SC2086
run az vm deallocate --ids $ids
# shellcheck disable=SC2086
az vm get-instance-view --ids $ids --query "[].{vm:name, state:instanceView.statuses[1].displayStatus}" -o table
