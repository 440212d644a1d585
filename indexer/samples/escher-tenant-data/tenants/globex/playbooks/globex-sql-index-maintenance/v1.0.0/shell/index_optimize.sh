#!/usr/bin/env bash
# Run IndexOptimize on an Azure SQL database.
# Usage: <script> --server SERVER --database DB [--dry-run]
set -euo pipefail

SERVER=""
DB=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --server) SERVER="$2"; shift 2 ;;
    --database) DB="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$SERVER" ]] || { echo "--server is required" >&2; usage; }
[[ -n "$DB" ]] || { echo "--database is required" >&2; usage; }
command -v sqlcmd >/dev/null || { echo "sqlcmd CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

sql="EXECUTE dbo.IndexOptimize @Databases = '$DB', @FragmentationLow = NULL,
     @FragmentationMedium = 'INDEX_REORGANIZE', @FragmentationHigh = 'INDEX_REBUILD_ONLINE',
     @UpdateStatistics = 'ALL', @OnlyModifiedStatistics = 'Y'"
run sqlcmd -S "$SERVER" -d "$DB" --authentication-method ActiveDirectoryDefault -Q "$sql"
