#!/usr/bin/env bash
# Create a daily snapshot schedule and attach it to disks.
# Usage: <script> --project PROJECT --region REGION --zone ZONE [--disks DISKS] [--filter FILTER] [--hour HOUR] [--retention RETENTION] [--dry-run]
set -euo pipefail

PROJECT=""
REGION=""
ZONE=""
DISKS=""
FILTER=""
HOUR="3"
RETENTION="14"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --zone) ZONE="$2"; shift 2 ;;
    --disks) DISKS="$2"; shift 2 ;;
    --filter) FILTER="$2"; shift 2 ;;
    --hour) HOUR="$2"; shift 2 ;;
    --retention) RETENTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$REGION" ]] || { echo "--region is required" >&2; usage; }
[[ -n "$ZONE" ]] || { echo "--zone is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

policy="daily-${HOUR}utc-${RETENTION}d"
if ! gc compute resource-policies describe "$policy" --region "$REGION" >/dev/null 2>&1; then
  run gc compute resource-policies create snapshot-schedule "$policy" --region "$REGION" \
    --daily-schedule --start-time "$(printf '%02d:00' "$HOUR")" --max-retention-days "$RETENTION" \
    --on-source-disk-delete keep-auto-snapshots --storage-location "${REGION%%-*}"
fi
[[ -z "$DISKS" && -n "$FILTER" ]] && DISKS=$(gc compute disks list --zones "$ZONE" --filter "$FILTER" --format 'value(name)')
for d in ${DISKS//,/ }; do
  log "attach $policy to $d"
  run gc compute disks add-resource-policies "$d" --zone "$ZONE" --resource-policies "$policy"
done
