#!/usr/bin/env bash
# Break-glass: assume the emergency role (placeholder values, never real credentials).
# Usage: <script> --reason REASON [--dry-run]
set -euo pipefail

REASON=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --reason) REASON="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$REASON" ]] || { echo "--reason is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

ROLE_ARN="arn:aws:iam::000000000000:role/REPLACE_ME-break-glass"
log "break-glass requested: $REASON"
run aws sts assume-role --role-arn "$ROLE_ARN" --role-session-name "break-glass-$(whoami)"
