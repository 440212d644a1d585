#!/usr/bin/env bash
# Create a monthly billing budget with alerts for a project.
# Usage: <script> --project PROJECT --billing-account BA --amount AMOUNT [--topic TOPIC] [--dry-run]
set -euo pipefail

PROJECT=""
BA=""
AMOUNT=""
TOPIC=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --billing-account) BA="$2"; shift 2 ;;
    --amount) AMOUNT="$2"; shift 2 ;;
    --topic) TOPIC="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$BA" ]] || { echo "--billing-account is required" >&2; usage; }
[[ -n "$AMOUNT" ]] || { echo "--amount is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

num=$(gcloud projects describe "$PROJECT" --format 'value(projectNumber)')
args=(--billing-account "$BA" --display-name "budget-$PROJECT" --budget-amount "$AMOUNT"
      --filter-projects "projects/$num" --calendar-period month
      --threshold-rule percent=0.5 --threshold-rule percent=0.9 --threshold-rule percent=1.0
      --threshold-rule percent=1.0,basis=forecasted-spend)
[[ -n "$TOPIC" ]] && args+=(--notifications-rule-pubsub-topic "$TOPIC")
run gcloud billing budgets create "${args[@]}"
gcloud billing budgets list --billing-account "$BA" --format 'table(displayName,amount.specifiedAmount.units)'
