#!/usr/bin/env bash
# Apply Globex blob lifecycle tiering.
# Usage: <script> --resource-group RG --account ACCOUNT [--prefix PREFIX] [--dry-run]
set -euo pipefail

RG=""
ACCOUNT=""
PREFIX=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
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

policy=$(cat <<JSON
{"rules":[{"enabled":true,"name":"globex-tiering","type":"Lifecycle","definition":{
  "filters":{"blobTypes":["blockBlob"],"prefixMatch":["$PREFIX"]},
  "actions":{"baseBlob":{"tierToCool":{"daysAfterModificationGreaterThan":30},
                         "tierToCold":{"daysAfterModificationGreaterThan":90},
                         "tierToArchive":{"daysAfterModificationGreaterThan":180},
                         "delete":{"daysAfterModificationGreaterThan":2555}},
             "snapshot":{"delete":{"daysAfterCreationGreaterThan":90}},
             "version":{"delete":{"daysAfterCreationGreaterThan":90}}}}}]}
JSON
)
run az storage account management-policy create -g "$RG" --account-name "$ACCOUNT" --policy "$policy"
