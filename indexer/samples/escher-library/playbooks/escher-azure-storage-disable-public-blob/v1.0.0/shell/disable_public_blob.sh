#!/usr/bin/env bash
# Disallow anonymous blob access on a storage account.
# Usage: <script> --resource-group RG --account ACCOUNT [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
ACCOUNT=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
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

log "containers with public access:"
az storage container list --account-name "$ACCOUNT" --auth-mode login \
  --query "[?properties.publicAccess!=null].{name:name, access:properties.publicAccess}" -o table || true
run az storage account update -g "$RG" -n "$ACCOUNT" --allow-blob-public-access false
az storage account show -g "$RG" -n "$ACCOUNT" --query allowBlobPublicAccess -o tsv
