#!/usr/bin/env bash
# Globex: restart the nginx ingress controller deployment (metadata.json was never written).
# Usage: <script> --context KCTX [--dry-run]
set -euo pipefail

KCTX=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --context) KCTX="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$KCTX" ]] || { echo "--context is required" >&2; usage; }
command -v kubectl >/dev/null || { echo "kubectl CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run kubectl --context "$KCTX" -n ingress-nginx rollout restart deployment ingress-nginx-controller
run kubectl --context "$KCTX" -n ingress-nginx rollout status deployment ingress-nginx-controller --timeout 5m
