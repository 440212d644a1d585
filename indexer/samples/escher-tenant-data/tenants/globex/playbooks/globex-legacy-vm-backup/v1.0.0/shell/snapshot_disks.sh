#!/usr/bin/env bash
# ARCHIVED: snapshot every managed disk in a resource group.
# Usage: <script> --resource-group RG [--dry-run]
set -euo pipefail

RG=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
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

for id in $(az disk list -g "$RG" --query '[].id' -o tsv); do
  run az snapshot create -g "$RG" -n "$(basename "$id")-$(date +%Y%m%d)" --source "$id" --incremental true
done
