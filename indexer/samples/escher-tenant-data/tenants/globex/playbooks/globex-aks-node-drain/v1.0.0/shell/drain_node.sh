#!/usr/bin/env bash
# AI-generated: drain and reimage an AKS node.
# Usage: <script> --node NODE --node-resource-group NRG [--dry-run]
set -euo pipefail

NODE=""
NRG=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --node) NODE="$2"; shift 2 ;;
    --node-resource-group) NRG="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$NODE" ]] || { echo "--node is required" >&2; usage; }
[[ -n "$NRG" ]] || { echo "--node-resource-group is required" >&2; usage; }
command -v kubectl >/dev/null || { echo "kubectl CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run kubectl cordon "$NODE"
run kubectl drain "$NODE" --ignore-daemonsets --delete-emptydir-data --timeout 5m
vmss="${NODE:0:${#NODE}-6}"; inst=$((36#${NODE: -6}))
run az vmss reimage -g "$NRG" -n "$vmss" --instance-ids "$inst"
run kubectl uncordon "$NODE"
