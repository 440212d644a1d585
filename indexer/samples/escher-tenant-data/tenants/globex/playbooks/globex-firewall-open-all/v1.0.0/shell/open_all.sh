#!/usr/bin/env bash
# AI-generated: open all TCP ports (REJECTED).
# Usage: <script> --project PROJECT [--network NETWORK] [--dry-run]
set -euo pipefail

PROJECT=""
NETWORK="globex-prod"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --network) NETWORK="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run gcloud compute firewall-rules create debug-allow-all --project "$PROJECT" --network "$NETWORK" \
  --direction INGRESS --allow tcp --source-ranges 0.0.0.0/0
