#!/usr/bin/env bash
# Enable automatic rotation on customer managed KMS keys.
# Usage: <script> [--key-id KEY_ID] [--period-days PERIOD] [--region REGION] [--dry-run]
set -euo pipefail

KEY_ID=""
PERIOD="365"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --key-id) KEY_ID="$2"; shift 2 ;;
    --period-days) PERIOD="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

keys="$KEY_ID"
if [[ -z "$keys" ]]; then
  keys=$(aws kms list-keys --region "$REGION" --query 'Keys[].KeyId' --output text)
fi
for k in $keys; do
  read -r mgr spec state origin < <(aws kms describe-key --region "$REGION" --key-id "$k" \
    --query 'KeyMetadata.[KeyManager,KeySpec,KeyState,Origin]' --output text)
  [[ "$mgr" == CUSTOMER && "$spec" == SYMMETRIC_DEFAULT && "$state" == Enabled && "$origin" == AWS_KMS ]] || continue
  enabled=$(aws kms get-key-rotation-status --region "$REGION" --key-id "$k" --query KeyRotationEnabled --output text)
  [[ "$enabled" == True ]] && continue
  log "enabling rotation on $k ($PERIOD days)"
  run aws kms enable-key-rotation --region "$REGION" --key-id "$k" --rotation-period-in-days "$PERIOD"
done
