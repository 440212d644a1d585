#!/usr/bin/env bash
# Scale an EKS managed node group.
# Usage: <script> --cluster CLUSTER --nodegroup NG --desired DESIRED [--region REGION] [--dry-run]
set -euo pipefail

CLUSTER=""
NG=""
DESIRED=""
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) CLUSTER="$2"; shift 2 ;;
    --nodegroup) NG="$2"; shift 2 ;;
    --desired) DESIRED="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$CLUSTER" ]] || { echo "--cluster is required" >&2; usage; }
[[ -n "$NG" ]] || { echo "--nodegroup is required" >&2; usage; }
[[ -n "$DESIRED" ]] || { echo "--desired is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

read -r cur_min cur_max cur_des < <(aws eks describe-nodegroup --region "$REGION" \
  --cluster-name "$CLUSTER" --nodegroup-name "$NG" \
  --query 'nodegroup.scalingConfig.[minSize,maxSize,desiredSize]' --output text)
min=$(( DESIRED < cur_min ? DESIRED : cur_min )); max=$(( DESIRED > cur_max ? DESIRED : cur_max ))
log "scaling $NG: desired $cur_des -> $DESIRED (min $min, max $max)"
[[ "$DRY_RUN" == true ]] && exit 0
uid=$(aws eks update-nodegroup-config --region "$REGION" --cluster-name "$CLUSTER" --nodegroup-name "$NG" \
  --scaling-config "minSize=$min,maxSize=$max,desiredSize=$DESIRED" --query update.id --output text)
until [[ "$(aws eks describe-update --region "$REGION" --name "$CLUSTER" --nodegroup-name "$NG" \
           --update-id "$uid" --query update.status --output text)" =~ ^(Successful|Failed|Cancelled)$ ]]; do
  sleep 20
done
kubectl get nodes -l "eks.amazonaws.com/nodegroup=$NG"
