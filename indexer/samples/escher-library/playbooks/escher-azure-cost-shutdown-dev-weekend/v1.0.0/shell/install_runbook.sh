#!/usr/bin/env bash
# Install the dev weekend shutdown runbook and its Friday/Monday schedules.
# Usage: <script> --resource-group RG --automation-account AA [--timezone TZ_NAME] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

RG=""
AA=""
TZ_NAME="W. Europe Standard Time"
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --resource-group) RG="$2"; shift 2 ;;
    --automation-account) AA="$2"; shift 2 ;;
    --timezone) TZ_NAME="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$RG" ]] || { echo "--resource-group is required" >&2; usage; }
[[ -n "$AA" ]] || { echo "--automation-account is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

here="$(cd "$(dirname "$0")/.." && pwd)"
rb=DevWeekendShutdown
run az automation runbook create -g "$RG" --automation-account-name "$AA" -n "$rb" --type PowerShell
run az automation runbook replace-content -g "$RG" --automation-account-name "$AA" -n "$rb" \
  --content @"$here/powershell/Invoke-DevWeekendShutdown.ps1"
run az automation runbook publish -g "$RG" --automation-account-name "$AA" -n "$rb"
fri=$(date -d 'next friday 19:00' +%Y-%m-%dT%H:%M:%S); mon=$(date -d 'next monday 07:00' +%Y-%m-%dT%H:%M:%S)
run az automation schedule create -g "$RG" --automation-account-name "$AA" -n dev-friday-stop \
  --frequency Week --interval 1 --start-time "$fri" --time-zone "$TZ_NAME"
run az automation schedule create -g "$RG" --automation-account-name "$AA" -n dev-monday-start \
  --frequency Week --interval 1 --start-time "$mon" --time-zone "$TZ_NAME"
log "link the schedules in the portal or with New-AzAutomationScheduledRunbook (Action=Stop / Action=Start)"
