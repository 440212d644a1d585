#!/usr/bin/env bash
# Rotate AKS cluster certificates.
# Usage: <script> --resource-group RG --cluster CLUSTER [--dry-run]
set -euo pipefail

RG=""
CLUSTER=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --cluster) CLUSTER="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

az aks show -g "$RG" -n "$CLUSTER" --query "{k8s:kubernetesVersion, state:provisioningState}" -o table
run az aks rotate-certs -g "$RG" -n "$CLUSTER" --yes
run az aks get-credentials -g "$RG" -n "$CLUSTER" --overwrite-existing
kubectl get nodes
