#!/usr/bin/env bash
# Resize a GKE node pool or update its autoscaler limits.
# Usage: <script> --project PROJECT --cluster CLUSTER --pool POOL --location LOC [--nodes NODES] [--min MIN] [--max MAX] [--dry-run]
set -euo pipefail

PROJECT=""
CLUSTER=""
POOL=""
LOC=""
NODES=""
MIN=""
MAX=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --cluster) CLUSTER="$2"; shift 2 ;;
    --pool) POOL="$2"; shift 2 ;;
    --location) LOC="$2"; shift 2 ;;
    --nodes) NODES="$2"; shift 2 ;;
    --min) MIN="$2"; shift 2 ;;
    --max) MAX="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$POOL" ]] || { echo "--pool is required" >&2; usage; }
[[ -n "$LOC" ]] || { echo "--location is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

auto=$(gc container node-pools describe "$POOL" --cluster "$CLUSTER" --location "$LOC" \
  --format 'value(autoscaling.enabled)')
if [[ "$auto" == True ]]; then
  [[ -n "$MIN" && -n "$MAX" ]] || { echo "autoscaling on: give --min and --max" >&2; exit 2; }
  run gc container node-pools update "$POOL" --cluster "$CLUSTER" --location "$LOC" \
    --enable-autoscaling --min-nodes "$MIN" --max-nodes "$MAX"
else
  [[ -n "$NODES" ]] || { echo "give --nodes" >&2; exit 2; }
  run gc container clusters resize "$CLUSTER" --node-pool "$POOL" --location "$LOC" --num-nodes "$NODES"
fi
kubectl get nodes -l "cloud.google.com/gke-nodepool=$POOL" 2>/dev/null || true
