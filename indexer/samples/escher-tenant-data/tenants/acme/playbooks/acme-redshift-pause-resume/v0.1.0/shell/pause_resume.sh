#!/usr/bin/env bash
# WIP: pause or resume a Redshift cluster.
# Usage: <script> [--cluster CLUSTER] --action ACTION [--region REGION] [--dry-run]
set -euo pipefail

CLUSTER="acme-analytics"
ACTION=""
REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --cluster) CLUSTER="$2"; shift 2 ;;
    --action) ACTION="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$ACTION" ]] || { echo "--action is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

case "$ACTION" in
  pause) run aws redshift pause-cluster --region "$REGION" --cluster-identifier "$CLUSTER" ;;
  resume) run aws redshift resume-cluster --region "$REGION" --cluster-identifier "$CLUSTER" ;;
  *) echo "--action must be pause or resume" >&2; exit 2 ;;
esac
# TODO: wait for the cluster status and notify #acme-data
