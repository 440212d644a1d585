#!/usr/bin/env bash
# Trigger an ElastiCache Redis failover for one shard.
# Usage: <script> --group GROUP [--node-group NODE_GROUP] [--region REGION] [--dry-run]
set -euo pipefail

GROUP=""
NODE_GROUP="0001"
REGION="${AWS_REGION:-us-east-1}"
DRY_RUN=false

usage() { sed -n '3p' "$0" | sed "s|^# Usage: <script>|Usage: $(basename "$0")|"; exit 2; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --group) GROUP="$2"; shift 2 ;;
    --node-group) NODE_GROUP="$2"; shift 2 ;;
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done

[[ -n "$GROUP" ]] || { echo "--group is required" >&2; usage; }
command -v aws >/dev/null || { echo "aws CLI not found" >&2; exit 127; }

run() {
  if [[ "$DRY_RUN" == true ]]; then echo "[dry-run] $*"; else "$@"; fi
}
log() { echo "[$(date -u +%H:%M:%SZ)] $*"; }

read -r status af < <(aws elasticache describe-replication-groups --region "$REGION" \
  --replication-group-id "$GROUP" --query 'ReplicationGroups[0].[Status,AutomaticFailover]' --output text)
[[ "$status" == available && "$af" == enabled ]] || { echo "status=$status failover=$af" >&2; exit 1; }
before=$(aws elasticache describe-replication-groups --region "$REGION" --replication-group-id "$GROUP" \
  --query "ReplicationGroups[0].NodeGroups[?NodeGroupId=='$NODE_GROUP'].NodeGroupMembers[?CurrentRole=='primary'].CacheClusterId" --output text)
log "primary before: $before"
run aws elasticache test-failover --region "$REGION" --replication-group-id "$GROUP" --node-group-id "$NODE_GROUP"
run aws elasticache wait replication-group-available --region "$REGION" --replication-group-id "$GROUP"
aws elasticache describe-replication-groups --region "$REGION" --replication-group-id "$GROUP" \
  --query "ReplicationGroups[0].NodeGroups[?NodeGroupId=='$NODE_GROUP'].NodeGroupMembers[].[CacheClusterId,CurrentRole]" --output text
