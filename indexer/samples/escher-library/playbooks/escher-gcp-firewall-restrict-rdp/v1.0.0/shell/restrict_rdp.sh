#!/usr/bin/env bash
# Narrow or disable firewall rules that allow RDP from the Internet.
# Usage: <script> --project PROJECT [--network NETWORK] [--allowed ALLOWED] [--disable DISABLE] [--dry-run]
set -euo pipefail

PROJECT=""
NETWORK=""
ALLOWED="35.235.240.0/20"
DISABLE="false"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --network) NETWORK="$2"; shift 2 ;;
    --allowed) ALLOWED="$2"; shift 2 ;;
    --disable) DISABLE="$2"; shift 2 ;;
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

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

filter="direction=INGRESS AND disabled=false AND sourceRanges:0.0.0.0/0"
[[ -n "$NETWORK" ]] && filter+=" AND network~/$NETWORK\$"
gc compute firewall-rules list --filter "$filter" --format json | \
  jq -r '.[] | select(any(.allowed[]?; (.IPProtocol=="tcp" or .IPProtocol=="all") and ((.ports // ["0-65535"]) | any(. == "3389" or (split("-") | length == 2 and (.[0]|tonumber) <= 3389 and (.[1]|tonumber) >= 3389))))) | "\(.name) \(.sourceRanges|join(","))"' |
  while read -r rule ranges; do
    log "$rule open to $ranges"
    if [[ "$DISABLE" == true ]]; then run gc compute firewall-rules update "$rule" --disabled
    else run gc compute firewall-rules update "$rule" --source-ranges "$ALLOWED"; fi
  done
