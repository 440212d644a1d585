#!/usr/bin/env bash
# Enable Azure Backup for a VM and take an on-demand backup.
# Usage: <script> --resource-group RG --name VM [--vault VAULT] [--policy POLICY] [--retain-days DAYS] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
VM=""
VAULT=""
POLICY="DefaultPolicy"
DAYS="30"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --name) VM="$2"; shift 2 ;;
    --vault) VAULT="$2"; shift 2 ;;
    --policy) POLICY="$2"; shift 2 ;;
    --retain-days) DAYS="$2"; shift 2 ;;
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

VAULT="${VAULT:-rsv-$RG}"
az backup vault show -g "$RG" -n "$VAULT" -o none 2>/dev/null || \
  run az backup vault create -g "$RG" -n "$VAULT" -l "$(az group show -n "$RG" --query location -o tsv)"
run az backup protection enable-for-vm -g "$RG" --vault-name "$VAULT" --vm "$VM" --policy-name "$POLICY"
until_date=$(date -u -d "+$DAYS days" +%d-%m-%Y)
run az backup protection backup-now -g "$RG" --vault-name "$VAULT" --container-name "$VM" \
  --item-name "$VM" --backup-management-type AzureIaasVM --retain-until "$until_date"
az backup job list -g "$RG" --vault-name "$VAULT" --query "[0].{op:properties.operation, status:properties.status}" -o table
