#!/usr/bin/env bash
# Resize a managed instance group or update its autoscaler.
# Usage: <script> --project PROJECT --mig MIG --location LOC [--size SIZE] [--min MIN] [--max MAX] [--dry-run]
set -euo pipefail

PROJECT=""
MIG=""
LOC=""
SIZE=""
MIN=""
MAX=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --mig) MIG="$2"; shift 2 ;;
    --location) LOC="$2"; shift 2 ;;
    --size) SIZE="$2"; shift 2 ;;
    --min) MIN="$2"; shift 2 ;;
    --max) MAX="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$MIG" ]] || { echo "--mig is required" >&2; usage; }
[[ -n "$LOC" ]] || { echo "--location is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

if [[ "$LOC" =~ -[a-z]$ ]]; then scope=(--zone "$LOC"); else scope=(--region "$LOC"); fi
read -r current autoscaler < <(gc compute instance-groups managed describe "$MIG" "${scope[@]}" \
  --format 'value(targetSize,status.autoscaler)')
log "$MIG targetSize=$current autoscaler=${autoscaler:-none}"
if [[ -n "${autoscaler:-}" ]]; then
  [[ -n "$MIN" && -n "$MAX" ]] || { echo "autoscaled MIG: give --min and --max" >&2; exit 2; }
  run gc compute instance-groups managed update-autoscaling "$MIG" "${scope[@]}" --min-num-replicas "$MIN" --max-num-replicas "$MAX"
else
  [[ -n "$SIZE" ]] || { echo "give --size" >&2; exit 2; }
  run gc compute instance-groups managed resize "$MIG" "${scope[@]}" --size "$SIZE"
fi
run gc compute instance-groups managed wait-until "$MIG" "${scope[@]}" --stable --timeout 600
