#!/usr/bin/env bash
# Scale an AKS node pool or adjust its autoscaler.
# Usage: <script> --resource-group RG --cluster CLUSTER --nodepool POOL [--count COUNT] [--min MIN] [--max MAX] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
CLUSTER=""
POOL=""
COUNT=""
MIN=""
MAX=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --cluster) CLUSTER="$2"; shift 2 ;;
    --nodepool) POOL="$2"; shift 2 ;;
    --count) COUNT="$2"; shift 2 ;;
    --min) MIN="$2"; shift 2 ;;
    --max) MAX="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$POOL" ]] || { echo "--nodepool is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

read -r current auto < <(az aks nodepool show -g "$RG" --cluster-name "$CLUSTER" -n "$POOL" \
  --query "[count, enableAutoScaling]" -o tsv | tr '\n' ' ')
log "pool $POOL: count=$current autoscaling=$auto"
if [[ "$auto" == "true" ]]; then
  [[ -n "$MIN" && -n "$MAX" ]] || { echo "autoscaling on: give --min and --max" >&2; exit 2; }
  run az aks nodepool update -g "$RG" --cluster-name "$CLUSTER" -n "$POOL" \
    --update-cluster-autoscaler --min-count "$MIN" --max-count "$MAX"
else
  [[ -n "$COUNT" ]] || { echo "give --count" >&2; exit 2; }
  run az aks nodepool scale -g "$RG" --cluster-name "$CLUSTER" -n "$POOL" --node-count "$COUNT"
fi
kubectl get nodes -l "agentpool=$POOL" 2>/dev/null || true
