"""The text embedded for each playbook version: a documented function of its fields.

all-MiniLM-L6-v2 reads at most 256 word pieces, so the most telling fields come first::

    <name>. <description>
    Resources: <resource types as words, e.g. "rds instance">. Cloud: <AWS/Azure/GCP>.
    Keywords: <keywords>.
    Use cases: <use cases>.
    Steps: <explain_plan.what_happens[].action>.
    Purpose: <purpose, when it differs from the description>.

Any change here changes every content hash, so it is versioned by :data:`TEXT_VERSION`
(part of each collection's source fingerprint): bumping it re-embeds everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

TEXT_VERSION = "text-v1"
_PROVIDER_NAMES = {"aws": "AWS", "azure": "Azure", "gcp": "GCP"}


def resource_words(resource_type: str) -> str:
    """Resource type as words: ``"rds::instance"`` -> ``"rds instance"``,
    ``"ec2::vpc-endpoint"`` -> ``"ec2 vpc endpoint"``."""
    return resource_type.replace("::", " ").replace("-", " ").replace("_", " ")


def _sentence(label: str, items: Sequence[str]) -> str:
    items = [i for i in items if i]
    return f"{label}: {', '.join(items)}." if items else ""


def step_names(explain_plan: Mapping[str, Any] | None) -> list[str]:
    """The ``action`` of each step of the explain plan, in order."""
    steps = (explain_plan or {}).get("what_happens") or []
    return [str(s["action"]) for s in steps if isinstance(s, Mapping) and s.get("action")]


def embed_text(metadata: Mapping[str, Any], explain_plan: Mapping[str, Any] | None) -> str:
    """The text embedded for one playbook version (see the module docstring)."""
    name = str(metadata.get("name", "")).strip()
    description = str(metadata.get("description", "")).strip()
    purpose = str(metadata.get("purpose") or "").strip()
    head = f"{name}. {description}" if description else name
    parts = [
        head,
        _sentence("Resources", [resource_words(r) for r in metadata.get("resource_types", [])]),
        _sentence("Cloud", [_PROVIDER_NAMES.get(c, c) for c in metadata.get("cloud_provider", [])]),
        _sentence("Keywords", list(metadata.get("keywords", []))),
        _sentence("Use cases", list(metadata.get("use_cases", []))),
        _sentence("Steps", step_names(explain_plan)),
    ]
    if purpose and purpose != description:
        parts.append(f"Purpose: {purpose}")
    return "\n".join(p for p in parts if p)


def content_hash(text: str) -> str:
    """Key for vector reuse (together with the model identity)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
