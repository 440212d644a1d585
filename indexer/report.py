"""What a run found wrong and what it did: rejections and the run summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Rejection:
    """One reason a playbook version folder was left out: which folder, which field, why."""

    folder: str
    field: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.folder}: {self.field}: {self.reason}"
