#!/usr/bin/env bash
# Manually fail over the write region of a Cosmos DB account.
# Usage: <script> --resource-group RG --account ACCOUNT --region NEW_REGION [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
ACCOUNT=""
NEW_REGION=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
    --region) NEW_REGION="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$ACCOUNT" ]] || { echo "--account is required" >&2; usage; }
[[ -n "$NEW_REGION" ]] || { echo "--region is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

mapfile -t regions < <(az cosmosdb show -g "$RG" -n "$ACCOUNT" \
  --query "sort_by(failoverPolicies, &failoverPriority)[].locationName" -o tsv | tr -d ' ' | tr '[:upper:]' '[:lower:]')
log "current order: ${regions[*]}"
printf '%s\n' "${regions[@]}" | grep -qx "$NEW_REGION" || { echo "$NEW_REGION is not replicated" >&2; exit 1; }
order=("$NEW_REGION=0"); i=1
for r in "${regions[@]}"; do [[ "$r" == "$NEW_REGION" ]] && continue; order+=("$r=$i"); i=$((i+1)); done
run az cosmosdb failover-priority-change -g "$RG" -n "$ACCOUNT" --failover-policies "${order[@]}"
az cosmosdb show -g "$RG" -n "$ACCOUNT" --query "writeLocations[0].locationName" -o tsv
