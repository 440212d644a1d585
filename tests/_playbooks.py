"""Write small, valid playbook version folders for tests (any field can be overridden)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def metadata(pid: str, version: str, *, tenant: str | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "playbook_id": pid,
        "version": version,
        "name": pid.replace("-", " ").title(),
        "description": f"Playbook {pid} for tests",
        "keywords": ["test"],
        "cloud_provider": ["aws"],
        "resource_types": ["ec2::instance"],
        "author": "user_custom" if tenant else "escher_library",
        "storage_strategy": "uploaded_trusted" if tenant else "using_default",
        "status": "active",
        "created_at": 1726329600,
        "updated_at": 1728391162,
        "execution_count": 4,
        "success_count": 3,
    }
    doc.update(fields)
    return doc


def write_playbook(
    root: Path | str,
    pid: str,
    version: str = "1.0.0",
    *,
    tenant: str | None = None,
    script: str | None = "#!/bin/bash\necho run\n",
    **fields: Any,
) -> Path:
    """``root/playbooks/<pid>/v<version>/`` (library) or under ``root/tenants/<t>/``."""
    base = Path(root) / (f"tenants/{tenant}/playbooks" if tenant else "playbooks")
    folder = base / pid / f"v{version}"
    folder.mkdir(parents=True, exist_ok=True)
    doc = metadata(pid, version, tenant=tenant, **fields)
    (folder / "metadata.json").write_text(json.dumps(doc, indent=2))
    (folder / "parameters.json").write_text(
        json.dumps({"parameters": [{"name": "instance_id", "type": "string", "required": True}]})
    )
    (folder / "explain_plan.json").write_text(
        json.dumps(
            {
                "explain_plan": {
                    "what_it_does": doc["description"],
                    "what_happens": [{"step": 1, "action": "Do the thing"}],
                }
            }
        )
    )
    if script is not None:
        (folder / "shell").mkdir(exist_ok=True)
        (folder / "shell" / "run.sh").write_text(script)
    return folder
