#!/usr/bin/env bash
# Back up a Cloud SQL instance and enforce its backup settings.
# Usage: <script> --project PROJECT --instance INSTANCE [--retain RETAIN] [--export-uri EXPORT_URI] [--database DATABASE] [--dry-run]
set -euo pipefail

PROJECT=""
INSTANCE=""
RETAIN="14"
EXPORT_URI=""
DATABASE=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --instance) INSTANCE="$2"; shift 2 ;;
    --retain) RETAIN="$2"; shift 2 ;;
    --export-uri) EXPORT_URI="$2"; shift 2 ;;
    --database) DATABASE="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$INSTANCE" ]] || { echo "--instance is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

run gc sql backups create --instance "$INSTANCE" --description "escher on-demand $(date -u +%FT%TZ)"
run gc sql instances patch "$INSTANCE" --backup-start-time 02:00 \
  --retained-backups-count "$RETAIN" --enable-point-in-time-recovery
if [[ -n "$EXPORT_URI" ]]; then
  [[ -n "$DATABASE" ]] || { echo "--database is required with --export-uri" >&2; exit 2; }
  run gc sql export sql "$INSTANCE" "$EXPORT_URI" --database "$DATABASE" --offload
fi
gc sql backups list --instance "$INSTANCE" --limit 3 --format 'table(id,windowStartTime,status,type)'
