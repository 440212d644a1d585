"""Synthetic playbook sources at benchmark scale, from realistic templates.

``write_sources(root, library=N, tenants=T, per_tenant=M, seed=S)`` writes
``root/library/playbooks/<id>/v<ver>/`` and ``root/tenants/tenants/<t>/playbooks/...``
folders (metadata.json, parameters.json, explain_plan.json, one shell script) whose text is
composed from cloud-operations templates (action x service x context), so embedding and
keyword costs look like real playbooks'. Deterministic for a given seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

ACTIONS = [
    ("stop", "Stop", "Gracefully stop"),
    ("start", "Start", "Start and verify"),
    ("restart", "Restart", "Restart with health checks for"),
    ("scale", "Scale", "Scale capacity of"),
    ("backup", "Back up", "Take a consistent backup of"),
    ("restore", "Restore", "Restore from the latest backup"),
    ("snapshot", "Snapshot", "Create a point-in-time snapshot of"),
    ("rotate", "Rotate credentials of", "Rotate keys and secrets used by"),
    ("encrypt", "Enable encryption on", "Turn on encryption at rest for"),
    ("tag", "Enforce tags on", "Apply the mandatory cost-allocation tags to"),
    ("patch", "Patch", "Apply the latest OS and engine patches to"),
    ("resize", "Resize", "Change the size of"),
    ("failover", "Fail over", "Force a failover of"),
    ("cleanup", "Clean up", "Delete unused and orphaned"),
    ("audit", "Audit", "Report the configuration drift of"),
    ("restrict", "Restrict public access to", "Block public network access to"),
]
SERVICES = {
    "aws": [
        ("rds::instance", "RDS database instance"),
        ("rds::cluster", "Aurora cluster"),
        ("ec2::instance", "EC2 instance"),
        ("s3::bucket", "S3 bucket"),
        ("lambda::function", "Lambda function"),
        ("ecs::service", "ECS service"),
        ("eks::nodegroup", "EKS node group"),
        ("dynamodb::table", "DynamoDB table"),
        ("elasticache::replication-group", "ElastiCache cluster"),
        ("sqs::queue", "SQS queue"),
        ("ebs::volume", "EBS volume"),
        ("iam::role", "IAM role"),
    ],
    "azure": [
        ("compute::virtual-machine", "Azure virtual machine"),
        ("sql::database", "Azure SQL database"),
        ("storage::account", "storage account"),
        ("container::managed-cluster", "AKS cluster"),
        ("keyvault::vault", "Key Vault"),
        ("web::app-service", "App Service app"),
        ("network::network-security-group", "network security group"),
    ],
    "gcp": [
        ("compute::instance", "Compute Engine VM"),
        ("sql::instance", "Cloud SQL instance"),
        ("storage::bucket", "Cloud Storage bucket"),
        ("container::node-pool", "GKE node pool"),
        ("compute::instance-group-manager", "managed instance group"),
        ("pubsub::subscription", "Pub/Sub subscription"),
        ("compute::disk", "persistent disk"),
    ],
}
CONTEXTS = [
    ("over the weekend", "cost-optimization", ["weekend", "cost-saving", "schedule"]),
    ("in production", "maintenance", ["production", "maintenance-window"]),
    ("in staging and dev", "cost-optimization", ["staging", "dev", "non-production"]),
    ("after a security finding", "security", ["security", "compliance", "remediation"]),
    ("during an incident", "incident-response", ["incident", "on-call", "outage"]),
    ("nightly", "maintenance", ["nightly", "scheduled", "automation"]),
    ("before a release", "disaster-recovery", ["release", "safety", "rollback"]),
    ("when CPU is saturated", "scaling", ["cpu", "performance", "autoscaling"]),
]
STATUSES = ["active"] * 14 + [
    "approved",
    "deprecated",
    "pending_review",
    "needs_update",
    "broken",
    "draft",
]


@dataclass(frozen=True)
class SynthCounts:
    library: int
    tenants: int
    per_tenant: int

    @property
    def total(self) -> int:
        return self.library + self.tenants * self.per_tenant


def _doc(rng: random.Random, pid: str, tenant: str | None) -> tuple[dict, dict, dict, str]:
    provider = rng.choice(list(SERVICES))
    rtype, service = rng.choice(SERVICES[provider])
    verb, title, sentence = rng.choice(ACTIONS)
    ctx, category, kws = rng.choice(CONTEXTS)
    name = f"{title} {service} {ctx}"
    description = (
        f"{sentence} the {service} {ctx}. Checks the current state first, "
        f"records what it changed and can be rolled back."
    )
    status = rng.choice(STATUSES) if tenant else "active"
    runs = rng.randint(0, 2000)
    meta = {
        "playbook_id": pid,
        "version": "1.0.0",
        "name": name[:200],
        "description": description,
        "purpose": f"{verb} {service} {ctx}",
        "use_cases": [f"{title} {service} {ctx}", f"{category} for {service}"],
        "keywords": [verb, rtype.split("::")[0], *kws],
        "cloud_provider": [provider],
        "resource_types": [rtype],
        "author": "user_custom" if tenant else "escher_library",
        "storage_strategy": "uploaded_trusted" if tenant else "using_default",
        "status": status,
        "tags": {"category": category, "risk_level": rng.choice(["low", "medium", "high"])},
        "created_at": 1700000000 + rng.randint(0, 50_000_000),
        "updated_at": 1750000000 + rng.randint(0, 10_000_000),
        "execution_count": runs,
        "success_count": max(0, runs - rng.randint(0, runs // 20 + 1)),
    }
    params = {
        "parameters": [
            {
                "name": "resource_id",
                "type": "string",
                "required": True,
                "description": f"Identifier of the {service}",
            },
            {"name": "dry_run", "type": "boolean", "required": False, "default": False},
        ]
    }
    plan = {
        "explain_plan": {
            "what_it_does": description,
            "what_happens": [
                {"step": 1, "action": f"Check the {service} state"},
                {"step": 2, "action": f"{title} {service}"},
                {"step": 3, "action": "Verify and report"},
            ],
        }
    }
    script = f"#!/usr/bin/env bash\nset -euo pipefail\n# {name}\necho '{verb} $1'\n"
    return meta, params, plan, script


def write_playbook(folder: Path, meta: dict, params: dict, plan: dict, script: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metadata.json").write_text(json.dumps(meta))
    (folder / "parameters.json").write_text(json.dumps(params))
    (folder / "explain_plan.json").write_text(json.dumps(plan))
    (folder / "shell").mkdir(exist_ok=True)
    (folder / "shell" / "run.sh").write_text(script)


def write_sources(root: Path, counts: SynthCounts, seed: int = 7) -> tuple[Path, Path]:
    """Write the library and tenant trees under ``root``; returns (library, tenants) roots."""
    rng = random.Random(seed)
    lib, ten = root / "library", root / "tenants"
    for i in range(counts.library):
        pid = f"lib-{i:06d}"
        write_playbook(lib / "playbooks" / pid / "v1.0.0", *_doc(rng, pid, None))
    for t in range(counts.tenants):
        tenant = f"t{t:04d}"
        for i in range(counts.per_tenant):
            pid = f"pb-{i:05d}"
            write_playbook(
                ten / "tenants" / tenant / "playbooks" / pid / "v1.0.0", *_doc(rng, pid, tenant)
            )
    return lib, ten


def touch_description(folder: Path, suffix: str) -> None:
    """Change a playbook's embedded text (a real content change)."""
    meta_path = folder / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["description"] = meta["description"] + " " + suffix
    meta_path.write_text(json.dumps(meta))
