#!/usr/bin/env bash
# Create a tainted preemptible GKE node pool for batch work.
# Usage: <script> --project PROJECT --cluster CLUSTER --location LOC [--dry-run]
set -euo pipefail

PROJECT=""
CLUSTER=""
LOC=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --cluster) CLUSTER="$2"; shift 2 ;;
    --location) LOC="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$LOC" ]] || { echo "--location is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run gcloud container node-pools create batch-preemptible --project "$PROJECT" --cluster "$CLUSTER" \
  --location "$LOC" --preemptible --machine-type e2-standard-4 --enable-autoscaling \
  --min-nodes 0 --max-nodes 10 --node-taints workload=batch:NoSchedule --node-labels workload=batch
