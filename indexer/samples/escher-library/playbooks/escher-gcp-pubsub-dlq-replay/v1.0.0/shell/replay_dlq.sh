#!/usr/bin/env bash
# Replay Pub/Sub dead-lettered messages to a topic (small volumes).
# Usage: <script> --project PROJECT --subscription SUB --topic TOPIC [--batch BATCH] [--dry-run]
set -euo pipefail

PROJECT=""
SUB=""
TOPIC=""
BATCH="50"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --subscription) SUB="$2"; shift 2 ;;
    --topic) TOPIC="$2"; shift 2 ;;
    --batch) BATCH="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$SUB" ]] || { echo "--subscription is required" >&2; usage; }
[[ -n "$TOPIC" ]] || { echo "--topic is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

gc() { gcloud --project "$PROJECT" --quiet "$@"; }

while :; do
  msgs=$(gc pubsub subscriptions pull "$SUB" --limit "$BATCH" --format json)
  [[ "$(jq length <<<"$msgs")" -gt 0 ]] || break
  jq -c '.[]' <<<"$msgs" | while read -r m; do
    data=$(jq -r '.message.data' <<<"$m" | base64 -d)
    ack=$(jq -r '.ackId' <<<"$m")
    run gc pubsub topics publish "$TOPIC" --message "$data" --attribute replayed=true
    run gc pubsub subscriptions ack "$SUB" --ack-ids "$ack"
  done
  [[ "$DRY_RUN" == true ]] && break
done
