#!/usr/bin/env bash
# Attach an EBS volume to an EC2 instance.
# Usage: <script> --volume-id VOL --instance-id INST [--device DEV] [--region REGION] [--dry-run]
set -euo pipefail

VOL=""
INST=""
DEV="/dev/sdf"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --volume-id) VOL="$2"; shift 2 ;;
    --instance-id) INST="$2"; shift 2 ;;
    --device) DEV="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$VOL" ]] || { echo "--volume-id is required" >&2; usage; }
[[ -n "$INST" ]] || { echo "--instance-id is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

vaz=$(aws ec2 describe-volumes --region "$REGION" --volume-ids "$VOL" --query 'Volumes[0].AvailabilityZone' --output text)
iaz=$(aws ec2 describe-instances --region "$REGION" --instance-ids "$INST" \
  --query 'Reservations[0].Instances[0].Placement.AvailabilityZone' --output text)
[[ "$vaz" == "$iaz" ]] || { echo "volume in $vaz, instance in $iaz" >&2; exit 1; }
run aws ec2 attach-volume --region "$REGION" --volume-id "$VOL" --instance-id "$INST" --device "$DEV"
run aws ec2 wait volume-in-use --region "$REGION" --volume-ids "$VOL"
log "attached $VOL to $INST as $DEV"
