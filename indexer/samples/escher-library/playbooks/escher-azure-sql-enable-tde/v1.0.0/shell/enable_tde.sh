#!/usr/bin/env bash
# Enable TDE on Azure SQL databases.
# Usage: <script> --resource-group RG --server SERVER [--database DB] [--key-id KEY_ID] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
SERVER=""
DB=""
KEY_ID=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --server) SERVER="$2"; shift 2 ;;
    --database) DB="$2"; shift 2 ;;
    --key-id) KEY_ID="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$SERVER" ]] || { echo "--server is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

if [[ -n "$KEY_ID" ]]; then
  run az sql server key create -g "$RG" -s "$SERVER" --kid "$KEY_ID"
  run az sql server tde-key set -g "$RG" -s "$SERVER" --server-key-type AzureKeyVault --kid "$KEY_ID"
fi
dbs="$DB"
[[ -n "$dbs" ]] || dbs=$(az sql db list -g "$RG" -s "$SERVER" --query "[?name!='master'].name" -o tsv)
for db in $dbs; do
  state=$(az sql db tde show -g "$RG" -s "$SERVER" -d "$db" --query state -o tsv)
  [[ "$state" == Enabled ]] && { log "$db already encrypted"; continue; }
  log "enabling TDE on $db"
  run az sql db tde set -g "$RG" -s "$SERVER" -d "$db" --status Enabled
done
