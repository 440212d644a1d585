#!/usr/bin/env bash
# AI-generated: stop one RDS instance.
# Usage: <script> --instance-id DB [--region REGION] [--dry-run]
set -euo pipefail

DB=""
REGION="${AWS_REGION:-eu-central-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) DB="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$DB" ]] || { echo "--instance-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run aws rds stop-db-instance --region "$REGION" --db-instance-identifier "$DB"
run aws rds wait db-instance-stopped --region "$REGION" --db-instance-identifier "$DB"
