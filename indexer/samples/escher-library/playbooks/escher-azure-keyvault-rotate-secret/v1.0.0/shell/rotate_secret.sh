#!/usr/bin/env bash
# Rotate a Key Vault secret and restart consumers.
# Usage: <script> --vault VAULT --secret SECRET [--expiry-days DAYS] [--restart RESTART] [--subscription SUBSCRIPTION] [--dry-run]
set -euo pipefail

VAULT=""
SECRET=""
DAYS="90"
RESTART=""
SUBSCRIPTION=""
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --vault) VAULT="$2"; shift 2 ;;
    --secret) SECRET="$2"; shift 2 ;;
    --expiry-days) DAYS="$2"; shift 2 ;;
    --restart) RESTART="$2"; shift 2 ;;
    --subscription) SUBSCRIPTION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$VAULT" ]] || { echo "--vault is required" >&2; usage; }
[[ -n "$SECRET" ]] || { echo "--secret is required" >&2; usage; }
command -v az >/dev/null || { echo "az CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

if [[ -n "$SUBSCRIPTION" ]]; then az account set --subscription "$SUBSCRIPTION"; fi

old=$(az keyvault secret show --vault-name "$VAULT" -n "$SECRET" --query id -o tsv)
value=$(openssl rand -base64 32)
expires=$(date -u -d "+$DAYS days" +%Y-%m-%dT%H:%M:%SZ)
log "new version of $SECRET expiring $expires"
run az keyvault secret set --vault-name "$VAULT" -n "$SECRET" --value "$value" --expires "$expires" -o none
run az keyvault secret set-attributes --id "$old" --enabled false -o none
for app in ${RESTART//,/ }; do
  log "restarting $app"; run az webapp restart -g "${app%%/*}" -n "${app#*/}"
done
