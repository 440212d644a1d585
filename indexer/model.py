"""The playbook vocabulary: enumerations, visibility rules, collection naming, versions.

This is the single place that says which statuses are searchable, which carry a warning,
what a tenant id may look like and how a collection is named. Both sides import it.
"""

from __future__ import annotations

import re
from typing import Final

LIBRARY_COLLECTION: Final = "escher_library"
TENANT_COLLECTION_PREFIX: Final = "tenant_"
TENANT_COLLECTION_SUFFIX: Final = "_playbooks"

STATUSES: Final = (
    "draft",
    "ready",
    "active",
    "deprecated",
    "archived",
    "pending_review",
    "approved",
    "rejected",
    "broken",
    "needs_update",
)
# Spec, "Playbook Lifecycle & States": the statuses search may return.
SEARCHABLE_STATUSES: Final = frozenset(
    {"active", "approved", "deprecated", "needs_update", "pending_review"}
)
# Returned, but always with this warning.
STATUS_WARNINGS: Final = {
    "deprecated": "DEPRECATED: an older version; prefer the newest active version",
    "needs_update": "NEEDS UPDATE: works but outdated; review before running",
    "pending_review": "UNTESTED: pending review; verify the code before running",
}
AUTHORS: Final = ("user_custom", "escher_library", "ai_generated")
STORAGE_STRATEGIES: Final = (
    "local_only",
    "uploaded_for_review",
    "uploaded_trusted",
    "using_default",
)
CLOUD_PROVIDERS: Final = ("aws", "azure", "gcp")

# Script folders a playbook version may carry, and the format name each one maps to.
KNOWN_SCRIPT_FOLDERS: Final = (
    "shell",
    "python",
    "terraform",
    "cloudformation",
    "ssm",
    "powershell",
    "arm",
    "bicep",
    "ansible",
)
DOCUMENT_FILES: Final = ("metadata.json", "parameters.json", "explain_plan.json")

# Ids: lowercase-friendly slugs that cannot escape a prefix (no '/', '..', control chars).
ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TENANT_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Semantic versioning 2.0.0 (https://semver.org), without a leading 'v'.
SEMVER_PATTERN: Final = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_safe_id(value: str) -> bool:
    """True when ``value`` is usable as one path segment: no '/', no '..', no control chars."""
    return bool(ID_PATTERN.match(value)) and ".." not in value


def is_valid_tenant(value: str) -> bool:
    return bool(TENANT_PATTERN.match(value))


def tenant_collection(tenant_id: str) -> str:
    """``acme`` -> ``tenant_acme_playbooks``. The caller validates ``tenant_id`` first."""
    return f"{TENANT_COLLECTION_PREFIX}{tenant_id}{TENANT_COLLECTION_SUFFIX}"


def collection_tenant(collection: str) -> str | None:
    """Inverse of :func:`tenant_collection`; ``None`` for the library."""
    if collection.startswith(TENANT_COLLECTION_PREFIX) and collection.endswith(
        TENANT_COLLECTION_SUFFIX
    ):
        return collection[len(TENANT_COLLECTION_PREFIX) : -len(TENANT_COLLECTION_SUFFIX)]
    return None


def parse_semver(version: str) -> tuple[int, int, int, str] | None:
    """``"1.2.3-rc.1"`` -> ``(1, 2, 3, "rc.1")``; ``None`` when not semver."""
    m = SEMVER_PATTERN.match(version)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4) or ""


def version_sort_key(version: str) -> tuple[int, int, int, int, str]:
    """Orders versions as semver does: a pre-release sorts below its release."""
    parsed = parse_semver(version)
    if parsed is None:
        return (-1, -1, -1, -1, version)
    major, minor, patch, pre = parsed
    return (major, minor, patch, 0 if pre else 1, pre)
