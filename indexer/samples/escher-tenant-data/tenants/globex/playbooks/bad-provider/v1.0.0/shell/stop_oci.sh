#!/usr/bin/env bash
# Stop an OCI compute instance.
# Usage: <script> --instance-ocid OCID [--dry-run]
set -euo pipefail

OCID=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --instance-ocid) OCID="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$OCID" ]] || { echo "--instance-ocid is required" >&2; usage; }
command -v oci >/dev/null || { echo "oci CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

run oci compute instance action --instance-id "$OCID" --action SOFTSTOP --wait-for-state STOPPED
