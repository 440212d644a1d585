#!/usr/bin/env bash
# Restart the globex ledger reconciliation batch for one business date.
# Usage: <script> --project PROJECT --date BDATE [--region REGION] [--dry-run]
set -euo pipefail

PROJECT=""
BDATE=""
REGION="europe-west3"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --project) PROJECT="$2"; shift 2 ;;
    --date) BDATE="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$PROJECT" ]] || { echo "--project is required" >&2; usage; }
[[ -n "$BDATE" ]] || { echo "--date is required" >&2; usage; }
command -v gcloud >/dev/null || { echo "gcloud CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

running=$(gcloud run jobs executions list --project "$PROJECT" --region "$REGION" --job ledger-recon \
  --filter 'status.conditions.status=Unknown' --format 'value(name)')
[[ -z "$running" ]] || { echo "execution still running: $running" >&2; exit 1; }
part="${BDATE//-/}"
run bq --project_id "$PROJECT" rm -f -t "globex_finance.ledger_recon\$${part}"
lock="https://firestore.googleapis.com/v1/projects/$PROJECT/databases/(default)/documents/locks/ledger-recon-$BDATE"
if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] DELETE $lock"
else curl -fsS -X DELETE -H "Authorization: Bearer $(gcloud auth print-access-token)" "$lock"; fi
run gcloud run jobs execute ledger-recon --project "$PROJECT" --region "$REGION" --args="--date=$BDATE" --wait
