"""Query intent without an LLM: action, provider, resource types, environment, timing.

:func:`parse_intent` reads a query (and the snapshot's resource-type vocabulary) and
returns an :class:`Intent`:

- ``action``: the canonical verb (``"turn off"``, ``"shut down"``, ``"halt"`` -> ``stop``),
  with the verbs that would do the opposite (``start``) and whether the query is
  unambiguous about it (no opposite verb is also asked for). Verbs that do not say what is
  asked are skipped: after a negation ("can't delete ..." is a symptom) or inside a
  when/why clause ("back up ... before tonight's release"). :data:`ACTION_FAMILY` lists
  close verbs (remove ~ delete, add ~ increase) that earn part of the same-verb boost.
- ``providers``: named (``azure``) or implied by a service (``RDS`` -> aws,
  ``Blob Storage`` -> azure, ``GCE`` -> gcp). ``provider_confident`` is true when the
  provider is named or every service named points at the same one.
- ``resource_types``: the snapshot's own resource types the query names, through
  service aliases (``"persistent disk"`` -> ``compute::disk``); only types that exist
  in the vocabulary given are returned.
- ``environment`` (production, staging, development, test) and ``schedule``
  (weekend, nightly, ...): context words, reported and used as soft evidence only.
- ``expansions``: words added for the keyword channel and the query embedding: the
  canonical verb and the long form of known acronyms (``tde`` -> ``transparent data
  encryption``).
- ``concepts``: service/feature words for common operator phrasings (``"audit trail"``
  -> ``cloudtrail``, ``"disk full"`` -> ``volume resize``), searched by the keyword
  channel only and at reduced weight (:data:`serve.search.CONCEPT_WEIGHT`).

Everything here is a fixed lexicon of cloud-operations vocabulary; nothing is learnt
from, or tuned to, particular queries. Inferred facts are evidence for ranking
(:mod:`serve.scoring`), never filters: only the request's ``filters`` are hard.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# canonical action -> phrases that ask for it (lowercase, matched on word boundaries).
ACTION_PHRASES: Mapping[str, tuple[str, ...]] = {
    "stop": (
        "stop",
        "stops",
        "stopped",
        "stopping",
        "shut down",
        "shutdown",
        "shut off",
        "shuts down",
        "turn off",
        "power off",
        "power down",
        "halt",
        "switch off",
        "deallocate",
        "deallocated",
    ),
    "start": (
        "start",
        "starts",
        "started",
        "starting",
        "turn on",
        "power on",
        "power up",
        "boot",
        "boot up",
        "bring back up",
        "bring up",
        "bring back",
        "spin up",
        "switch on",
        "strat",
    ),
    "suspend": ("suspend", "suspended", "pause", "paused", "hibernate"),
    "resume": ("resume", "resumed", "unpause", "wake up"),
    "restart": ("restart", "reboot", "rebooted", "bounce", "hard reset", "reset", "recycle"),
    "attach": ("attach", "attached", "mount", "associate", "hook up"),
    "detach": ("detach", "detached", "unmount", "disassociate", "unhook"),
    "enable": ("enable", "enabled", "activate", "require", "enforce", "switch on"),
    "disable": ("disable", "disabled", "deactivate"),
    "increase": (
        "increase",
        "grow",
        "raise",
        "scale up",
        "scale out",
        "add more",
        "more instances",
        "bump up",
        "expand",
        "incrase",
    ),
    "decrease": ("decrease", "reduce", "shrink", "lower", "scale down", "scale in", "fewer"),
    "add": ("add", "put"),
    "remove": ("remove", "strip", "get rid of", "take away", "unassign", "revoke"),
    "create": ("create", "provision", "make", "set up", "build", "kick off", "spin up"),
    "delete": (
        "delete",
        "deleted",
        "destroy",
        "drop",
        "decommission",
        "terminate",
        "clean up",
        "cleanup",
        "tear down",
        "get rid of",
        "release",
        "purge",
        "throw away",
        "wipe",
        "discard",
    ),
    "enter": ("enter", "move into", "put into", "into standby"),
    "exit": ("exit", "out of standby", "take out", "leave"),
    "copy_to": ("copy to", "push", "upload to", "copy onto", "send to"),
    "copy_from": ("copy from", "pull", "download from", "fetch from", "retrieve from"),
    "join": ("join",),
    "unjoin": ("unjoin", "leave the domain", "remove from domain"),
    "install": ("install", "import", "onboard", "deploy"),
    "uninstall": ("uninstall",),
    "assign": ("assign", "promote"),
    "unassign": ("unassign",),
    "encrypt": ("encrypt", "encrypted", "encryption"),
    "decrypt": ("decrypt",),
    "restore": ("restore", "recover", "roll back", "rollback"),
    "backup": ("back up", "backup", "snapshot"),
    "rotate": ("rotate", "rotation", "renew"),
    "scan": ("scan", "check", "diagnose", "troubleshoot", "investigate", "why"),
    "failover": ("failover", "fail over"),
}
# Verbs that undo each other: a playbook whose name carries the opposite verb is demoted
# when the query is unambiguous.
OPPOSITES: Mapping[str, frozenset[str]] = {
    "stop": frozenset({"start", "resume"}),
    "start": frozenset({"stop", "suspend"}),
    "suspend": frozenset({"resume", "start"}),
    "resume": frozenset({"suspend", "stop"}),
    "attach": frozenset({"detach"}),
    "detach": frozenset({"attach"}),
    "enable": frozenset({"disable"}),
    "disable": frozenset({"enable"}),
    "increase": frozenset({"decrease"}),
    "decrease": frozenset({"increase"}),
    "add": frozenset({"remove", "delete", "decrease"}),
    "remove": frozenset({"add", "create", "install", "increase"}),
    "create": frozenset({"delete"}),
    "delete": frozenset({"create"}),
    "enter": frozenset({"exit"}),
    "exit": frozenset({"enter"}),
    "copy_to": frozenset({"copy_from"}),
    "copy_from": frozenset({"copy_to"}),
    "join": frozenset({"unjoin"}),
    "unjoin": frozenset({"join"}),
    "install": frozenset({"uninstall", "remove"}),
    "uninstall": frozenset({"install"}),
    "assign": frozenset({"unassign"}),
    "unassign": frozenset({"assign"}),
    "encrypt": frozenset({"decrypt"}),
    "decrypt": frozenset({"encrypt"}),
    "backup": frozenset({"restore"}),
    "restore": frozenset({"backup"}),
}
# Verbs close enough that a playbook named with one serves a query asking for the other
# ("get rid of a snapshot" -> a Delete Snapshot runbook, "add instances" -> Scale Out).
ACTION_FAMILY: Mapping[str, frozenset[str]] = {
    "remove": frozenset({"delete", "unassign", "detach", "uninstall"}),
    "delete": frozenset({"remove"}),
    "add": frozenset({"create", "increase", "attach", "assign"}),
    "create": frozenset({"add", "backup"}),
    "increase": frozenset({"add"}),
    "decrease": frozenset({"remove"}),
    "stop": frozenset({"suspend"}),
    "start": frozenset({"resume"}),
    "suspend": frozenset({"stop"}),
    "resume": frozenset({"start"}),
    "backup": frozenset({"create"}),
}
# Words that open a clause saying when or why, not what: an action after them ("back up
# the file system before tonight's release") is not the one asked for.
_CLAUSE_WORDS = frozenset({"before", "after", "until", "once", "while", "because", "since"})
# Single words found in playbook names -> the canonical verbs they carry.
NAME_VERBS: Mapping[str, str] = {
    "stop": "stop",
    "shutdown": "stop",
    "halt": "stop",
    "deallocate": "stop",
    "start": "start",
    "boot": "start",
    "suspend": "suspend",
    "pause": "suspend",
    "resume": "resume",
    "restart": "restart",
    "reboot": "restart",
    "reset": "restart",
    "attach": "attach",
    "mount": "attach",
    "associate": "attach",
    "detach": "detach",
    "unmount": "detach",
    "disassociate": "detach",
    "enable": "enable",
    "activate": "enable",
    "require": "enable",
    "enforce": "enable",
    "disable": "disable",
    "deactivate": "disable",
    "increase": "increase",
    "grow": "increase",
    "expand": "increase",
    "decrease": "decrease",
    "reduce": "decrease",
    "shrink": "decrease",
    "add": "add",
    "remove": "remove",
    "revoke": "remove",
    "create": "create",
    "provision": "create",
    "insert": "create",
    "delete": "delete",
    "destroy": "delete",
    "terminate": "delete",
    "release": "delete",
    "cleanup": "delete",
    "purge": "delete",
    "enter": "enter",
    "exit": "exit",
    "join": "join",
    "unjoin": "unjoin",
    "install": "install",
    "import": "install",
    "uninstall": "uninstall",
    "assign": "assign",
    "promote": "assign",
    "unassign": "unassign",
    "encrypt": "encrypt",
    "decrypt": "decrypt",
    "backup": "backup",
    "restore": "restore",
    "recover": "restore",
}
_NAME_PAIRS = (
    ("scale", "out", "increase"),
    ("scale", "up", "increase"),
    ("scale", "in", "decrease"),
    ("scale", "down", "decrease"),
)

# Words that make "turn on/off" mean start/stop (a machine) rather than enable/disable.
_MACHINE_WORDS = frozenset(
    [
        "vm",
        "vms",
        "instance",
        "instances",
        "server",
        "servers",
        "box",
        "boxes",
        "machine",
        "machines",
        "database",
        "db",
        "databases",
        "cluster",
        "clusters",
        "node",
        "nodes",
    ]
)
# An action word right after these is a noun or an alternative, not what is asked.
# Negations too: "can't delete a security group" reports a symptom, it does not ask to delete.
_NOT_THE_ACTION = frozenset(
    {"the", "a", "after", "instead", "of", "before", "without", "from", "its", "our", "than"}
    | {"t", "not", "cannot", "unable", "fails", "failed", "failing", "never"}
)

PROVIDER_WORDS: Mapping[str, str] = {
    "aws": "aws",
    "amazon": "aws",
    "azure": "azure",
    "microsoft": "azure",
    "entra": "azure",
    "gcp": "gcp",
    "google": "gcp",
    "google cloud": "gcp",
}
# service alias -> (provider or "", resource types it names, in order of preference).
SERVICES: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "rds": ("aws", ("rds::instance", "rds::cluster", "rds::snapshot")),
    "aurora": ("aws", ("rds::cluster",)),
    "ec2": ("aws", ("ec2::instance",)),
    "ebs": ("aws", ("ec2::volume", "ec2::snapshot")),
    "ami": ("aws", ("ec2::image",)),
    "s3": ("aws", ("s3::bucket",)),
    "lambda": ("aws", ("lambda::function",)),
    "dynamodb": ("aws", ("dynamodb::table",)),
    "dynamo": ("aws", ("dynamodb::table",)),
    "sqs": ("aws", ("sqs::queue",)),
    "sns": ("aws", ("sns::topic",)),
    "kms": ("aws", ("kms::key",)),
    "iam": ("", ("iam::user", "iam::role", "iam::password-policy")),
    "elasticache": ("aws", ("elasticache::replication-group",)),
    "documentdb": ("aws", ("docdb::cluster",)),
    "docdb": ("aws", ("docdb::cluster",)),
    "asg": ("aws", ("autoscaling::group",)),
    "auto scaling group": ("aws", ("autoscaling::group",)),
    "autoscaling group": ("aws", ("autoscaling::group",)),
    "ecs": ("aws", ("ecs::service", "ecs::task-definition")),
    "fargate": ("aws", ("ecs::service",)),
    "eks": ("aws", ("eks::cluster",)),
    "cloudtrail": ("aws", ("cloudtrail::trail",)),
    "guardduty": ("aws", ("guardduty::detector",)),
    "cloudfront": ("aws", ("cloudfront::distribution",)),
    "cloudwatch": ("aws", ("cloudwatch::alarm", "logs::log-group")),
    "cloudformation": ("aws", ("cloudformation::stack",)),
    "alb": ("aws", ("elbv2::load-balancer",)),
    "elb": ("aws", ("elbv2::load-balancer",)),
    "redshift": ("aws", ("redshift::cluster",)),
    "athena": ("aws", ("athena::workgroup",)),
    "codebuild": ("aws", ("codebuild::project",)),
    "ecr": ("aws", ("ecr::repository",)),
    "cognito": ("aws", ("cognito::user-pool",)),
    "secrets manager": ("aws", ("secretsmanager::secret",)),
    "efs": ("aws", ("efs::file-system",)),
    "fsx": ("aws", ("fsx::file-system",)),
    "kinesis": ("aws", ("kinesis::stream",)),
    "route53": ("aws", ("route53::hosted-zone",)),
    "route 53": ("aws", ("route53::hosted-zone",)),
    "vpc": ("", ("ec2::vpc", "compute::network")),
    "security group": ("aws", ("ec2::security-group",)),
    "transit gateway": ("aws", ("ec2::transit-gateway",)),
    "tgw": ("aws", ("ec2::transit-gateway",)),
    "nacl": ("aws", ("ec2::network-acl",)),
    "ssm": ("aws", ("ssm::document", "ec2::instance")),
    "systems manager": ("aws", ("ssm::document",)),
    "emr": ("aws", ("emr::cluster",)),
    "mwaa": ("aws", ("mwaa::environment",)),
    "opensearch": ("aws", ("opensearch::domain",)),
    "macie": ("aws", ("macie::session",)),
    "msk": ("aws", ("kafka::cluster",)),
    "ses": ("aws", ("ses::identity",)),
    "direct connect": ("aws", ("directconnect::connection",)),
    "mgn": ("aws", ("mgn::source-server",)),
    "drs": ("aws", ("drs::source-server",)),
    "eventbridge": ("aws", ()),
    "fis": ("aws", ()),
    "gce": ("gcp", ("compute::instance",)),
    "compute engine": ("gcp", ("compute::instance",)),
    "persistent disk": ("gcp", ("compute::disk",)),
    "pd": ("gcp", ("compute::disk",)),
    "hyperdisk": ("gcp", ("compute::disk",)),
    "mig": ("gcp", ("compute::instance-group",)),
    "managed instance group": ("gcp", ("compute::instance-group",)),
    "instance template": ("gcp", ("compute::instance-template",)),
    "gke": ("gcp", ("container::cluster", "container::node-pool")),
    "gcs": ("gcp", ()),
    "cloud storage": ("gcp", ()),
    "cloud sql": ("gcp", ()),
    "bigquery": ("gcp", ("bigquery::job",)),
    "pubsub": ("gcp", ("pubsub::subscription",)),
    "pub/sub": ("gcp", ("pubsub::subscription",)),
    "dataflow": ("gcp", ("dataflow::job",)),
    "dataproc": ("gcp", ("dataproc::cluster",)),
    "composer": ("gcp", ("composer::environment",)),
    "cloud run": ("gcp", ("run::service",)),
    "cloud functions": ("gcp", ("cloudfunctions::function",)),
    "cloud nat": ("gcp", ("compute::router-nat",)),
    "vertex": ("gcp", ("notebooks::instance",)),
    "gcpdiag": ("gcp", ()),
    "blob": ("azure", ("storage::account",)),
    "blob storage": ("azure", ("storage::account",)),
    "storage account": ("azure", ("storage::account",)),
    "key vault": ("azure", ("keyvault::vault",)),
    "keyvault": ("azure", ("keyvault::vault",)),
    "nsg": ("azure", ("network::network-security-group",)),
    "network security group": ("azure", ("network::network-security-group",)),
    "vnet": ("azure", ("network::virtual-network",)),
    "vnets": ("azure", ("network::virtual-network",)),
    "virtual network": ("azure", ("network::virtual-network",)),
    "vmss": ("azure", ("compute::vmss",)),
    "scale set": ("azure", ("compute::vmss",)),
    "app service": ("azure", ("web::app",)),
    "function app": ("azure", ("web::function-app",)),
    "automation account": ("azure", ("automation::account",)),
    "runbook worker": ("azure", ("automation::account",)),
    "log analytics": ("azure", ("operationalinsights::workspace",)),
    "sql managed instance": ("azure", ("sql::managed-instance",)),
    "azure sql": ("azure", ("sql::server", "sql::database")),
    "sql server": ("azure", ("sql::server",)),
    "aad": ("azure", ("aad::user",)),
    "entra id": ("azure", ("aad::user",)),
    "active directory": ("", ("aad::user",)),
    "defender": ("azure", ("security::alert", "security::assessment")),
    "mde": ("azure", ("security::alert",)),
    "sentinel": ("azure", ()),
    "service fabric": ("azure", ("servicefabric::cluster",)),
    "api management": ("azure", ("apimanagement::service",)),
    "cosmos": ("azure", ()),
    "aks": ("azure", ()),
    "azure cache for redis": ("azure", ("cache::redis",)),
    "recovery services": ("azure", ("recoveryservices::vault",)),
    "resource group": ("azure", ("resources::resource-group",)),
    "subscription": ("azure", ("resources::subscription",)),
    "arc": ("azure", ()),
}
# Generic resource nouns: they name types on every provider, so they imply none.
GENERIC_RESOURCES: Mapping[str, tuple[str, ...]] = {
    "vm": ("ec2::instance", "compute::virtual-machine", "compute::instance"),
    "vms": ("ec2::instance", "compute::virtual-machine", "compute::instance"),
    "virtual machine": ("compute::virtual-machine", "compute::instance", "ec2::instance"),
    "disk": ("compute::disk", "ec2::volume"),
    "bucket": ("s3::bucket", "storage::account"),
    "snapshot": ("ec2::snapshot", "compute::snapshot", "rds::snapshot"),
    "firewall": ("compute::firewall", "ec2::security-group", "network::network-security-group"),
    "queue": ("sqs::queue",),
    "redis": ("elasticache::replication-group", "cache::redis"),
    "kubernetes": ("eks::cluster", "container::cluster"),
}
# Acronyms and short forms -> long forms added for the keyword channel and the embedding.
EXPANSIONS: Mapping[str, str] = {
    "tde": "transparent data encryption",
    "imdsv2": "instance metadata service v2 imds token",
    "imds": "instance metadata service",
    "jit": "just in time",
    "nsg": "network security group",
    "dlq": "dead letter queue",
    "mig": "managed instance group",
    "pitr": "point in time recovery",
    "maz": "multi az",
    "ha": "high availability multi az",
    "sg": "security group",
    "nacl": "network acl",
    "tgw": "transit gateway",
    "aad": "azure active directory entra",
    "entra": "azure active directory",
    "mde": "microsoft defender for endpoint",
    "mdatp": "microsoft defender for endpoint",
    "mma": "microsoft monitoring agent log analytics",
    "vmss": "virtual machine scale set",
    "ciem": "cloud infrastructure entitlement management",
    "rbac": "role based access control",
    "alb": "application load balancer",
    "elb": "elastic load balancer",
    "cmk": "customer managed key",
    "pd": "persistent disk",
    "gce": "compute engine",
    "gke": "kubernetes engine",
    "eks": "elastic kubernetes service",
    "aks": "azure kubernetes service",
    "asg": "auto scaling group",
    "az": "availability zone",
    "rpo": "recovery point objective",
    "rto": "recovery time objective",
    "fis": "fault injection",
    "ssm": "systems manager",
    "drs": "elastic disaster recovery",
    "mgn": "application migration service",
    "cidr": "ip address range",
    "ddos": "distributed denial of service",
    "kms": "key management service",
    "cis": "cis benchmark",
    "mfa": "multi factor authentication",
    "tls": "transport layer security",
    "ssl": "secure sockets layer tls",
    "acl": "access control list",
    "vpc": "virtual private cloud",
    "vnet": "virtual network",
    "dr": "disaster recovery",
    "iac": "infrastructure as code",
    "sso": "single sign on",
    "oom": "out of memory",
    "cpu": "cpu processor",
    "db": "database",
    "rdp": "remote desktop rdp 3389",
    "ssh": "ssh 22",
    "sop": "standard operating procedure",
}
# Operator phrasings -> the service/feature vocabulary runbooks are written in. Soft,
# keyword-channel-only evidence (:data:`serve.search.CONCEPT_WEIGHT` of a query word's
# weight): general cloud-operations knowledge, not tuned to any query set.
CONCEPTS: Mapping[str, str] = {
    # audit, detection, compliance
    "api call history": "cloudtrail audit log",
    "api calls": "cloudtrail audit",
    "audit trail": "cloudtrail audit log",
    "audit log": "cloudtrail activity log audit",
    "audit logs": "cloudtrail activity log audit",
    "who did": "cloudtrail audit activity log",
    "who changed": "cloudtrail audit activity log",
    "who deleted": "cloudtrail audit activity log",
    "personal data": "macie sensitive data pii",
    "pii": "macie sensitive data",
    "sensitive data": "macie pii",
    "credit card numbers": "macie sensitive data",
    "threat detection": "guardduty threat finding",
    "malicious activity": "guardduty threat finding",
    "compromised": "guardduty finding incident security",
    "crypto mining": "guardduty finding",
    "intrusion": "guardduty threat",
    "config drift": "config drift compliance",
    "drift": "config drift",
    "compliance rules": "config rule compliance",
    "compliance": "config rule compliant",
    "non compliant": "config rule compliance",
    "noncompliant": "config rule compliance",
    "security posture": "security hub defender benchmark",
    "vulnerabilities": "inspector vulnerability scan patch",
    "vulnerability": "inspector scan patch",
    "unpatched": "patch patching update",
    "security updates": "patch patching",
    "os updates": "patch patching",
    # cost
    "bill": "cost budget billing",
    "billing": "cost budget",
    "spend": "cost budget",
    "spending": "cost budget",
    "costs": "cost budget",
    "expensive": "cost budget rightsize",
    "save money": "cost idle rightsize",
    "cut costs": "cost idle rightsize",
    "unused": "idle unattached cleanup",
    "orphaned": "unattached unused cleanup",
    "idle": "unused stop cost",
    # capacity and performance
    "disk full": "volume disk resize storage space",
    "out of space": "volume disk resize storage",
    "out of disk": "volume disk resize storage",
    "running out of storage": "volume disk resize storage",
    "no space left": "volume disk resize",
    "storage full": "volume disk resize storage",
    "memory leak": "memory",
    "out of memory": "memory",
    "memory pressure": "memory",
    "cpu spike": "cpu utilization",
    "high cpu": "cpu utilization",
    "cpu pegged": "cpu utilization",
    "latency": "performance slow",
    "slow": "performance latency",
    "sluggish": "performance latency",
    "throttled": "throttling limit quota",
    "throttling": "limit quota",
    "rate limited": "throttling limit quota",
    "quota": "limit quota increase",
    "traffic spike": "scale autoscaling capacity",
    "more capacity": "scale capacity",
    "bigger instance": "resize instance type",
    "instance size": "resize instance type",
    # connectivity
    "can t connect": "connectivity security group firewall route network",
    "cannot connect": "connectivity security group firewall route network",
    "cant connect": "connectivity security group firewall route network",
    "unable to connect": "connectivity security group firewall route network",
    "unreachable": "connectivity security group firewall route network",
    "connection refused": "connectivity security group firewall port",
    "timeout": "connectivity network firewall",
    "timing out": "connectivity network firewall",
    "times out": "connectivity network firewall",
    "no internet": "nat gateway route internet",
    "internet access": "nat gateway route internet",
    "dns": "route53 dns resolution",
    "name resolution": "dns resolution",
    # certificates, secrets, encryption, keys
    "certificate expired": "certificate acm ssl tls renew",
    "cert expired": "certificate acm ssl tls renew",
    "expiring certificate": "certificate acm ssl tls renew",
    "certificate": "acm ssl tls",
    "https": "certificate ssl tls",
    "secrets": "secrets manager key vault secret",
    "passwords": "secret password credential rotate",
    "password": "secret credential",
    "credentials": "secret key access key",
    "api key": "secret key",
    "access keys": "iam access key",
    "leaked": "exposed compromised rotate credential",
    "encrypt at rest": "encryption kms",
    "at rest": "encryption kms",
    "in transit": "encryption tls ssl",
    "unencrypted": "encryption kms",
    "encryption keys": "kms key",
    # exposure
    "public bucket": "public access block s3",
    "publicly accessible": "public access",
    "publicly readable": "public access block",
    "anonymous access": "public access block",
    "open to the internet": "public access security group 0.0.0.0",
    "exposed": "public access",
    "open port": "security group port ingress",
    "open ports": "security group port ingress",
    "least privilege": "iam policy permission",
    "permissions": "iam policy role",
    "access denied": "iam policy permission role",
    "permission denied": "iam policy permission role",
    "locked out": "password reset access",
    # resilience
    "availability zone": "az failover multi az",
    "zone outage": "az availability zone failover",
    "region outage": "disaster recovery failover region",
    "outage": "failover disaster recovery",
    "data loss": "backup restore snapshot",
    "accidentally deleted": "restore backup recover",
    "point in time": "restore backup pitr",
    "replica": "replication read replica",
    "replication lag": "replica replication",
    # operations
    "health check": "health status",
    "unhealthy": "health check",
    "crashing": "crash restart logs",
    "keeps restarting": "crash restart logs",
    "logs": "log logging",
    "alerts": "alarm notification",
    "alert": "alarm notification",
    "notify": "notification sns alarm",
    "tagging": "tag tags",
    "untagged": "tag tags",
    "golden image": "ami image",
    "patch": "patching update",
}
ENVIRONMENTS: Mapping[str, str] = {
    "production": "production",
    "prod": "production",
    "live": "production",
    "staging": "staging",
    "stage": "staging",
    "preprod": "staging",
    "dev": "development",
    "development": "development",
    "sandbox": "development",
    "test": "test",
    "qa": "test",
    "uat": "test",
}
SCHEDULES: Mapping[str, str] = {
    "weekend": "weekend",
    "weekends": "weekend",
    "saturday": "weekend",
    "sunday": "weekend",
    "friday": "weekend",
    "monday": "weekend",
    "nightly": "nightly",
    "night": "nightly",
    "overnight": "nightly",
    "tonight": "nightly",
    "nights": "nightly",
    "evening": "nightly",
    "daily": "daily",
    "every day": "daily",
    "weekly": "weekly",
    "monthly": "monthly",
    "business hours": "business_hours",
    "office hours": "business_hours",
    "schedule": "scheduled",
    "scheduled": "scheduled",
    "cron": "scheduled",
}

_TOKEN = re.compile(r"[a-z0-9]+(?:[:./-][a-z0-9]+)*")
_WORDS = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Intent:
    """What the query asks for, as far as a fixed lexicon can tell (see module docstring)."""

    action: str | None = None
    opposites: frozenset[str] = frozenset()
    action_confident: bool = False
    providers: tuple[str, ...] = ()
    provider_confident: bool = False
    provider_evidence: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    resource_types: tuple[str, ...] = ()
    environment: str | None = None
    schedule: tuple[str, ...] = ()
    expansions: tuple[str, ...] = field(default=())
    concepts: tuple[str, ...] = ()

    def expanded_query(self, query: str) -> str:
        """The query plus the words the intent adds (for the keyword channel, the embedding)."""
        return " ".join([query, *self.expansions]) if self.expansions else query

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "opposite_actions": sorted(self.opposites),
            "action_confident": self.action_confident,
            "cloud_provider": list(self.providers),
            "provider_confident": self.provider_confident,
            "provider_evidence": list(self.provider_evidence),
            "services": list(self.services),
            "resource_types": list(self.resource_types),
            "environment": self.environment,
            "schedule": list(self.schedule),
            "expansions": list(self.expansions),
            "concepts": list(self.concepts),
        }


# Longer phrases first so "shut down" wins over a bare "down", "scale up" over "up";
# (phrase, its words, action).
_ACTION_PHRASES_LONGEST_FIRST = [
    (p, p.split(), a)
    for p, a in sorted(
        ((p, a) for a, ps in ACTION_PHRASES.items() for p in ps), key=lambda x: -len(x[0])
    )
]


def _find_actions(words: list[str]) -> list[tuple[int, str]]:
    """(position, canonical action) for every action phrase, in query order."""
    found: list[tuple[int, str]] = []
    taken: set[int] = set()
    machine = any(w in _MACHINE_WORDS for w in words)
    present = set(words)
    for phrase, parts, action in _ACTION_PHRASES_LONGEST_FIRST:
        if parts[0] not in present:
            continue
        n = len(parts)
        for i in range(len(words) - n + 1):
            if words[i : i + n] != parts:
                continue
            span = set(range(i, i + n))
            if span & taken:
                continue
            if phrase in ("turn on", "switch on") and not machine:
                action = "enable"
            elif phrase in ("turn off", "switch off") and not machine:
                action = "disable"
            taken |= span
            found.append((i, action))
    # "bring the instance back up": a split phrase.
    if "bring" in words:
        at = words.index("bring")
        if "back" in words[at + 1 : at + 6] or "up" in words[at + 1 : at + 6]:
            found = [(p, a) for p, a in found if a != "backup"] + [(at, "start")]
    # "scale the cluster down", "scale it in": a split phrase.
    if "scale" in words:
        at = words.index("scale")
        rest = words[at + 1 : at + 5]
        for word, action in (
            ("down", "decrease"),
            ("in", "decrease"),
            ("up", "increase"),
            ("out", "increase"),
        ):
            if word in rest and not any(p == at for p, _ in found):
                found.append((at, action))
                break
    return sorted(found)


def _main_action(words: list[str]) -> tuple[str | None, bool]:
    """The action asked for and whether the query is unambiguous about its direction."""
    actions = [
        (i, a)
        for i, a in _find_actions(words)
        if not set(words[max(i - 2, 0) : i]) & _NOT_THE_ACTION
    ]
    clause = next((i for i, w in enumerate(words) if w in _CLAUSE_WORDS), len(words))
    if any(i < clause for i, _ in actions):
        actions = [(i, a) for i, a in actions if i < clause]
    if not actions:
        return None, False
    # The first directional verb (one with an opposite) leads; generic verbs follow.
    directional = [a for _, a in actions if a in OPPOSITES]
    main = directional[0] if directional else actions[0][1]
    conflicting = any(a in OPPOSITES.get(main, frozenset()) for a in directional[1:])
    return main, main in OPPOSITES and not conflicting


def _mentions(text: str, words: list[str], phrase: str) -> bool:
    if " " in phrase or "/" in phrase:
        if phrase not in text:  # the common case, without a regex
            return False
        return re.search(rf"(?<![a-z0-9]){re.escape(phrase)}(?![a-z0-9])", text) is not None
    return phrase in words


def parse_intent(query: str, vocabulary: Iterable[str] = ()) -> Intent:
    """The :class:`Intent` of ``query``; ``vocabulary`` = resource types in the snapshot."""
    text = query.lower()
    words = _WORDS.findall(text)
    tokens = set(_TOKEN.findall(text)) | set(words)
    vocab = set(vocabulary)
    action, confident = _main_action(words)

    named = sorted({p for w, p in PROVIDER_WORDS.items() if _mentions(text, words, w)})
    services: list[str] = []
    implied: set[str] = set()
    types: list[str] = []
    for alias, (provider, rtypes) in SERVICES.items():
        if _mentions(text, words, alias):
            services.append(alias)
            if provider:
                implied.add(provider)
            types.extend(rtypes)
    for noun, rtypes in GENERIC_RESOURCES.items():
        if _mentions(text, words, noun):
            types.extend(rtypes)
    types.extend(t for t in tokens if "::" in t)  # an identifier such as rds::instance
    if named:
        providers, evidence = tuple(named), tuple(w for w in PROVIDER_WORDS if w in words)
        provider_confident = True
    elif implied:
        providers, evidence = tuple(sorted(implied)), tuple(services)
        provider_confident = len(implied) == 1
    else:
        providers, evidence, provider_confident = (), (), False
    if providers:  # drop types of other providers (a "vm" in an azure query is an azure vm)
        types = [t for t in types if _type_provider(t) in (None, *providers)]
    resource_types = tuple(dict.fromkeys(t for t in types if not vocab or t in vocab))

    environment = next((ENVIRONMENTS[w] for w in words if w in ENVIRONMENTS), None)
    schedule = tuple(dict.fromkeys(v for k, v in SCHEDULES.items() if _mentions(text, words, k)))
    expansions: list[str] = []
    if action and action not in words and "_" not in action:
        expansions.append(action)
    expansions.extend(EXPANSIONS[w] for w in dict.fromkeys(words) if w in EXPANSIONS)
    phrased = " ".join(words)  # "can't connect" -> "can t connect"
    concepts = tuple(
        words_ for phrase, words_ in CONCEPTS.items() if f" {phrase} " in f" {phrased} "
    )
    return Intent(
        action=action,
        opposites=OPPOSITES.get(action or "", frozenset()) if confident else frozenset(),
        action_confident=confident,
        providers=providers,
        provider_confident=provider_confident,
        provider_evidence=evidence,
        services=tuple(services),
        resource_types=resource_types,
        environment=environment,
        schedule=schedule,
        expansions=tuple(expansions),
        concepts=concepts,
    )


_TYPE_PROVIDER_PREFIXES: Mapping[str, str] = {
    **{
        s: "aws"
        for s in (
            "rds",
            "ec2",
            "s3",
            "lambda",
            "dynamodb",
            "sqs",
            "sns",
            "kms",
            "elasticache",
            "docdb",
            "autoscaling",
            "ecs",
            "eks",
            "cloudtrail",
            "guardduty",
            "cloudfront",
            "elbv2",
            "redshift",
            "athena",
            "codebuild",
            "ecr",
            "cognito",
            "secretsmanager",
            "efs",
            "fsx",
            "kinesis",
            "route53",
            "ssm",
            "emr",
            "mwaa",
            "opensearch",
            "macie",
            "kafka",
            "ses",
            "directconnect",
            "mgn",
            "drs",
            "cloudwatch",
            "cloudformation",
            "logs",
            "iam",
            "backup",
            "config",
            "kinesisanalytics",
        )
    },
    **{
        s: "azure"
        for s in (
            "storage",
            "keyvault",
            "network",
            "web",
            "automation",
            "operationalinsights",
            "sql",
            "aad",
            "security",
            "servicefabric",
            "apimanagement",
            "cache",
            "recoveryservices",
            "resources",
            "monitor",
            "containerregistry",
        )
    },
    **{
        s: "gcp"
        for s in (
            "container",
            "bigquery",
            "pubsub",
            "dataflow",
            "dataproc",
            "composer",
            "run",
            "cloudfunctions",
            "notebooks",
        )
    },
}


def _type_provider(resource_type: str) -> str | None:
    """The provider a resource type belongs to, when its service prefix tells (else None)."""
    prefix = resource_type.split("::", 1)[0]
    if prefix == "compute":
        return "azure" if resource_type in ("compute::virtual-machine", "compute::vmss") else "gcp"
    return _TYPE_PROVIDER_PREFIXES.get(prefix)


def name_verbs(name: str, playbook_id: str = "") -> frozenset[str]:
    """The canonical verbs a playbook's name (and id) carries, e.g. "Stop RDS" -> {stop}."""
    words = _WORDS.findall(f"{name} {playbook_id.replace('-', ' ')}".lower())
    verbs = {
        NAME_VERBS[w]
        for i, w in enumerate(words)
        if w in NAME_VERBS
        and not (NAME_VERBS[w] == "backup" and "from" in words[max(i - 2, 0) : i])
    }
    if "restore" in verbs:  # "restore backup": the backup is what it restores from
        verbs.discard("backup")
    for first, second, verb in _NAME_PAIRS:
        if first in words and second in words[words.index(first) + 1 : words.index(first) + 3]:
            verbs.add(verb)
    if "copy" in words:
        after = words[words.index("copy") + 1 : words.index("copy") + 5]
        if "from" in after:
            verbs.add("copy_from")
        elif "to" in after:
            verbs.add("copy_to")
    if "standby" in words:
        if "enter" in words:
            verbs.add("enter")
        if "exit" in words:
            verbs.add("exit")
    return frozenset(verbs)


def lexicon_words() -> frozenset[str]:
    """Every single word the intent lexicon knows (typo correction prefers these)."""
    phrases = [p for ps in ACTION_PHRASES.values() for p in ps]
    phrases += list(SERVICES) + list(GENERIC_RESOURCES) + list(EXPANSIONS)
    phrases += list(PROVIDER_WORDS) + list(ENVIRONMENTS) + list(SCHEDULES)
    return frozenset(w for p in phrases for w in _WORDS.findall(p))
