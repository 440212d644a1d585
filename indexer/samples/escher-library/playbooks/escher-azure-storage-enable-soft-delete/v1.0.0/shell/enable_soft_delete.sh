#!/usr/bin/env bash
# Enable blob soft delete, container soft delete and versioning.
# Usage: <script> --resource-group RG --account ACCOUNT [--days DAYS] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
ACCOUNT=""
DAYS="14"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
    --days) DAYS="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$ACCOUNT" ]] || { echo "--account is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

run az storage account blob-service-properties update -g "$RG" --account-name "$ACCOUNT" \
  --enable-delete-retention true --delete-retention-days "$DAYS" \
  --enable-container-delete-retention true --container-delete-retention-days "$DAYS" \
  --enable-versioning true
az storage account blob-service-properties show -g "$RG" --account-name "$ACCOUNT" \
  --query "{blob:deleteRetentionPolicy.enabled, container:containerDeleteRetentionPolicy.enabled, versioning:isVersioningEnabled}" -o table
