#!/usr/bin/env bash
# ARCHIVED: link an EC2-Classic instance to a VPC (EC2-Classic retired Aug 2023).
# Usage: <script> --instance-id ID --vpc-id VPC [--region REGION] [--dry-run]
set -euo pipefail

ID=""
VPC=""
REGION="us-east-1"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-id) ID="$2"; shift 2 ;;
    --vpc-id) VPC="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$ID" ]] || { echo "--instance-id is required" >&2; usage; }
[[ -n "$VPC" ]] || { echo "--vpc-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

echo "EC2-Classic was retired on 2023-08-15; this playbook is archived." >&2
run aws ec2 attach-classic-link-vpc --region "$REGION" --instance-id "$ID" --vpc-id "$VPC" --groups "${SG:-default}"
