#!/usr/bin/env bash
# Restrict or remove NSG rules that open SSH to the Internet.
# Usage: <script> --resource-group RG --nsg NSG [--allowed ALLOWED] [--remove REMOVE] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
NSG=""
ALLOWED="10.0.0.0/8"
REMOVE="false"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --nsg) NSG="$2"; shift 2 ;;
    --allowed) ALLOWED="$2"; shift 2 ;;
    --remove) REMOVE="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$NSG" ]] || { echo "--nsg is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

q="[?direction=='Inbound' && access=='Allow' && (destinationPortRange=='22' || destinationPortRange=='*') \
   && (sourceAddressPrefix=='*' || sourceAddressPrefix=='Internet' || sourceAddressPrefix=='0.0.0.0/0')].name"
rules=$(az network nsg rule list -g "$RG" --nsg-name "$NSG" --query "$q" -o tsv)
[[ -n "$rules" ]] || { log "no Internet-facing SSH rules"; exit 0; }
az network nsg rule list -g "$RG" --nsg-name "$NSG" -o json > "nsg-$NSG-backup-$(date +%s).json"
for r in $rules; do
  if [[ "$REMOVE" == true ]]; then
    log "deleting $r"; run az network nsg rule delete -g "$RG" --nsg-name "$NSG" -n "$r"
  else
    log "restricting $r to $ALLOWED"
    # shellcheck disable=SC2086
    run az network nsg rule update -g "$RG" --nsg-name "$NSG" -n "$r" --source-address-prefixes ${ALLOWED//,/ }
  fi
done
