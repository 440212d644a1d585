#!/usr/bin/env bash
# Switch a Cosmos DB container to autoscale throughput.
# Usage: <script> --resource-group RG --account ACCOUNT --database DB --container CONTAINER [--max-ru MAX_RU] [--dry-run]
set -euo pipefail

RG=""
ACCOUNT=""
DB=""
CONTAINER=""
MAX_RU="4000"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --account) ACCOUNT="$2"; shift 2 ;;
    --database) DB="$2"; shift 2 ;;
    --container) CONTAINER="$2"; shift 2 ;;
    --max-ru) MAX_RU="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$ACCOUNT" ]] || { echo "--account is required" >&2; usage; }
[[ -n "$DB" ]] || { echo "--database is required" >&2; usage; }
[[ -n "$CONTAINER" ]] || { echo "--container is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run az cosmosdb sql container throughput migrate -g "$RG" -a "$ACCOUNT" -d "$DB" -n "$CONTAINER" -t autoscale
run az cosmosdb sql container throughput update -g "$RG" -a "$ACCOUNT" -d "$DB" -n "$CONTAINER" --max-throughput "$MAX_RU"
az cosmosdb sql container throughput show -g "$RG" -a "$ACCOUNT" -d "$DB" -n "$CONTAINER" \
  --query "resource.autoscaleSettings" -o json
