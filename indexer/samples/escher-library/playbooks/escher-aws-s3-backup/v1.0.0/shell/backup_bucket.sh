#!/usr/bin/env bash
# Copy an S3 bucket (or prefix) into a versioned backup bucket.
# Usage: <script> --source SRC --dest DEST [--prefix PREFIX] [--dry-run]
set -euo pipefail

SRC=""
DEST=""
PREFIX=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --source) SRC="$2"; shift 2 ;;
    --dest) DEST="$2"; shift 2 ;;
    --prefix) PREFIX="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$SRC" ]] || { echo "--source is required" >&2; usage; }
[[ -n "$DEST" ]] || { echo "--dest is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

v=$(aws s3api get-bucket-versioning --bucket "$DEST" --query Status --output text)
[[ "$v" == "Enabled" ]] || { echo "enable versioning on $DEST first" >&2; exit 1; }

src="s3://$SRC/${PREFIX}"; dst="s3://$DEST/$SRC/${PREFIX}"
log "sync $src -> $dst"
if [[ "$DRY_RUN" == true ]]; then
  aws s3 sync "$src" "$dst" --storage-class STANDARD_IA --dryrun
else
  aws s3 sync "$src" "$dst" --storage-class STANDARD_IA --only-show-errors
fi
n_src=$(aws s3 ls "$src" --recursive | wc -l)
n_dst=$(aws s3 ls "$dst" --recursive | wc -l)
log "objects: source=$n_src backup=$n_dst"
