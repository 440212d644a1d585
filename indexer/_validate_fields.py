"""Field checks for the JSON documents of a playbook version (see :mod:`indexer.validate`).

Each check records what is wrong in an :class:`Issues` and returns the normalised value,
or ``None`` when the value is absent or wrong, so that one pass reports every problem it
can find. A rejection's field is ``<document>:<path>``, e.g. ``metadata.json:tags.owner``
or ``parameters.json:parameters[2].name``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from indexer.model import is_safe_id, parse_semver
from indexer.report import Rejection

# Every character in Unicode category Cc except newline and tab.
CONTROL_CHARS: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
RESOURCE_TYPE_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]*::[a-z0-9][a-z0-9_.-]*$")
# Wider than an identifier: real SSM documents use names such as "4xxAlarmName", and Logic
# App templates names such as "Backup Admin Email". No leading or trailing space.
PARAMETER_NAME_PATTERN: Final = re.compile(
    r"^[A-Za-z0-9_](?:[A-Za-z0-9_. -]{0,126}[A-Za-z0-9_.-])?$"
)
MAX_TIMESTAMP: Final = 2**35  # exclusive; about the year 3058
MAX_COUNT: Final = 2**63 - 1  # stored as int64
MAX_TAGS: Final = 50
MAX_TAG_KEY_CHARS: Final = 64
MAX_TAG_VALUE_CHARS: Final = 500
MAX_ESTIMATED_IMPACT_BYTES: Final = 16 * 1024
MAX_RESOURCE_TYPES: Final = 50
MAX_LIST_ITEMS: Final = 100
MAX_PARAMETER_DESCRIPTION_CHARS: Final = 2000
# (field, longest item in characters); prerequisites are sentences and real ones reach
# ~900 characters (a list of IAM actions), so they get the parameter-description limit.
TEXT_LISTS: Final = (("use_cases", 500), ("keywords", 100), ("prerequisites", 2000))
TIMESTAMPS: Final = ("created_at", "updated_at", "last_executed_at")

_MISSING: Final = object()


class Issues:
    """The rejections found so far for one folder."""

    def __init__(self, folder_uri: str) -> None:
        self.folder_uri = folder_uri
        self.found: list[Rejection] = []

    def add(self, field: str, reason: str, uri: str | None = None) -> None:
        self.found.append(Rejection(uri or self.folder_uri, field, reason))

    def __len__(self) -> int:
        return len(self.found)


def kind(value: Any) -> str:
    """The JSON name of ``value``'s type, as a user reading the document would say it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def show(value: Any, limit: int = 80) -> str:
    """A short, printable rendering of a value for a reason (control chars escaped)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str) -> str:
    """``text`` with control characters escaped, for use in a field name."""
    return CONTROL_CHARS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def member(path: str, key: str) -> str:
    """``tags`` + ``owner`` -> ``tags.owner``; odd keys are quoted: ``tags["a b"]``."""
    if re.fullmatch(r"[A-Za-z0-9_-]+", key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _control_reason(text: str) -> str | None:
    m = CONTROL_CHARS.search(text)
    if m is None:
        return None
    return f"contains control character U+{ord(m.group()):04X}; only newline and tab are allowed"


def text(
    issues: Issues, field: str, value: Any, *, max_chars: int | None = None, min_chars: int = 0
) -> str | None:
    """A string without control characters (CRLF becomes LF), stripped, within length."""
    if not isinstance(value, str):
        issues.add(field, f"expected a string, got {kind(value)}")
        return None
    value = value.replace("\r\n", "\n")
    problem = _control_reason(value)
    if problem:
        issues.add(field, problem)
        return None
    value = value.strip()
    if len(value) < min_chars:
        issues.add(field, "must not be empty")
        return None
    if max_chars is not None and len(value) > max_chars:
        issues.add(field, f"is {len(value)} characters long; at most {max_chars} are allowed")
        return None
    return value


def choice(issues: Issues, field: str, value: Any, choices: Collection[str]) -> str | None:
    """One of ``choices`` (exact, after stripping surrounding whitespace)."""
    got = text(issues, field, value)
    if got is None:
        return None
    if got not in choices:
        issues.add(field, f"expected one of {', '.join(choices)}; got {show(got)}")
        return None
    return got


def integer(issues: Issues, field: str, value: Any, *, low: int, high: int) -> int | None:
    """An integer ``low <= n <= high``; a boolean is not an integer."""
    if isinstance(value, bool) or not isinstance(value, int):
        got = show(value) if isinstance(value, float) else kind(value)
        issues.add(field, f"expected an integer, got {got}")
        return None
    if not low <= value <= high:
        issues.add(field, f"expected an integer from {low} to {high}, got {value}")
        return None
    return value


def boolean(issues: Issues, field: str, value: Any) -> bool | None:
    if not isinstance(value, bool):
        issues.add(field, f"expected a boolean (true or false), got {kind(value)}")
        return None
    return value


def timestamp(issues: Issues, field: str, value: Any) -> int | None:
    """Unix seconds (an integer) or an ISO-8601 string (UTC when it names no zone)."""
    expected = "expected integer unix seconds or an ISO-8601 string"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            issues.add(field, f"{expected}; {show(value)} is not ISO-8601")
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = int(moment.timestamp())
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        got = show(value) if isinstance(value, float) else kind(value)
        issues.add(field, f"{expected}, got {got}")
        return None
    if not 0 <= seconds < MAX_TIMESTAMP:
        issues.add(field, f"{show(value)} is out of range; expected 0 <= seconds < 2^35")
        return None
    return seconds


def text_list(
    issues: Issues,
    field: str,
    value: Any,
    *,
    max_items: int,
    max_chars: int | None = None,
    choices: Collection[str] | None = None,
    pattern: re.Pattern[str] | None = None,
) -> list[str] | None:
    """A list of strings, stripped, empty items dropped, duplicates dropped (order kept)."""
    if not isinstance(value, list):
        issues.add(field, f"expected an array of strings, got {kind(value)}")
        return None
    if len(value) > max_items:
        issues.add(field, f"has {len(value)} items; at most {max_items} are allowed")
        return None
    start = len(issues)
    out: list[str] = []
    for i, item in enumerate(value):
        at = f"{field}[{i}]"
        if choices is not None:
            got = choice(issues, at, item, choices)
        else:
            got = text(issues, at, item, max_chars=max_chars)
            if got and pattern is not None and not pattern.match(got):
                issues.add(at, f"{show(got)} does not match {pattern.pattern}")
                got = None
        if got and got not in out:
            out.append(got)
    return out if len(issues) == start else None


def _strings_checked(issues: Issues, field: str, value: Any) -> None:
    """Report control characters in any string nested in ``value``."""
    if isinstance(value, str):
        problem = _control_reason(value)
        if problem:
            issues.add(field, problem)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _strings_checked(issues, f"{field}[{i}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings_checked(issues, member(field, key), item)


def tags(issues: Issues, field: str, value: Any) -> dict[str, str] | None:
    """An object of short string keys to scalars; values become strings."""
    if not isinstance(value, dict):
        issues.add(field, f"expected an object, got {kind(value)}")
        return None
    if len(value) > MAX_TAGS:
        issues.add(field, f"has {len(value)} keys; at most {MAX_TAGS} are allowed")
        return None
    start = len(issues)
    out: dict[str, str] = {}
    for raw_key, raw in value.items():
        at = member(field, printable(raw_key))
        key = text(issues, at, raw_key, min_chars=1, max_chars=MAX_TAG_KEY_CHARS)
        if isinstance(raw, bool):
            got: str | None = "true" if raw else "false"
        elif isinstance(raw, int | float):
            got = str(raw)
        elif isinstance(raw, str):
            got = text(issues, at, raw, max_chars=MAX_TAG_VALUE_CHARS)
        else:
            issues.add(at, f"expected a string, boolean or number, got {kind(raw)}")
            got = None
        if key is not None and got is not None:
            out[key] = got
    return out if len(issues) == start else None


def estimated_impact(issues: Issues, field: str, value: Any) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        issues.add(field, f"expected an object, got {kind(value)}")
        return None
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > MAX_ESTIMATED_IMPACT_BYTES:
        issues.add(
            field, f"is {size} bytes as JSON; at most {MAX_ESTIMATED_IMPACT_BYTES} are allowed"
        )
        return None
    start = len(issues)
    _strings_checked(issues, field, value)
    return value if len(issues) == start else None


def optional(doc: Mapping[str, Any], key: str) -> Any:
    """``doc[key]``, or :data:`_MISSING` when absent or null (null means "not given")."""
    value = doc.get(key)
    return _MISSING if value is None else value


def is_missing(value: Any) -> bool:
    return value is _MISSING


def explain_plan(issues: Issues, doc: dict[str, Any]) -> dict[str, Any] | None:
    """The explain plan object (unwrapped from ``{"explain_plan": {...}}`` when wrapped)."""
    base = ""
    plan: Any = doc
    if "explain_plan" in doc:
        base, plan = "explain_plan", doc["explain_plan"]
        if not isinstance(plan, dict):
            issues.add("explain_plan.json:explain_plan", f"expected an object, got {kind(plan)}")
            return None
    start = len(issues)

    def at(path: str) -> str:
        return f"explain_plan.json:{base}.{path}" if base else f"explain_plan.json:{path}"

    if not is_missing(what := optional(plan, "what_it_does")):
        text(issues, at("what_it_does"), what)
    steps = optional(plan, "what_happens")
    if not is_missing(steps):
        if not isinstance(steps, list):
            issues.add(at("what_happens"), f"expected an array of objects, got {kind(steps)}")
        else:
            for i, step in enumerate(steps):
                here = at(f"what_happens[{i}]")
                if not isinstance(step, dict):
                    issues.add(here, f"expected an object, got {kind(step)}")
                    continue
                if "action" not in step:
                    issues.add(f"{here}.action", "required field is missing")
                else:
                    text(issues, f"{here}.action", step["action"], min_chars=1)
                if not is_missing(number := optional(step, "step")):
                    integer(issues, f"{here}.step", number, low=0, high=MAX_COUNT)
    risks = optional(plan, "risks")
    if not is_missing(risks):
        if not isinstance(risks, list):
            issues.add(at("risks"), f"expected an array of objects, got {kind(risks)}")
        else:
            for i, risk in enumerate(risks):
                if not isinstance(risk, dict):
                    issues.add(at(f"risks[{i}]"), f"expected an object, got {kind(risk)}")
    return plan if len(issues) == start else None


def parameters(issues: Issues, doc: dict[str, Any]) -> dict[str, Any] | None:
    """``{"parameters": [{"name", "type", "required"?, "description"?, ...}, ...]}``."""
    field = "parameters.json:parameters"
    if "parameters" not in doc:
        issues.add(field, "required field is missing")
        return None
    items = doc["parameters"]
    if not isinstance(items, list):
        issues.add(field, f"expected an array of objects, got {kind(items)}")
        return None
    start = len(issues)
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        here = f"{field}[{i}]"
        if not isinstance(item, dict):
            issues.add(here, f"expected an object, got {kind(item)}")
            continue
        if "name" not in item:
            issues.add(f"{here}.name", "required field is missing")
        elif (name := text(issues, f"{here}.name", item["name"])) is not None:
            if name != item["name"] or not PARAMETER_NAME_PATTERN.match(name):
                issues.add(
                    f"{here}.name",
                    f"{show(item['name'])} does not match {PARAMETER_NAME_PATTERN.pattern}",
                )
            elif name in seen:
                issues.add(
                    f"{here}.name",
                    f"duplicate parameter name {show(name)} (also parameters[{seen[name]}])",
                )
            else:
                seen[name] = i
        if "type" not in item:
            issues.add(f"{here}.type", "required field is missing")
        else:
            text(issues, f"{here}.type", item["type"], min_chars=1, max_chars=64)
        if not is_missing(required := optional(item, "required")):
            boolean(issues, f"{here}.required", required)
        if not is_missing(description := optional(item, "description")):
            text(
                issues,
                f"{here}.description",
                description,
                max_chars=MAX_PARAMETER_DESCRIPTION_CHARS,
            )
    return doc if len(issues) == start else None


def safe_id(issues: Issues, field: str, value: Any) -> str | None:
    got = text(issues, field, value, min_chars=1)
    if got is not None and not is_safe_id(got):
        issues.add(
            field,
            f"{show(got)} is not a safe id (letters, digits, '.', '_', '-'; at most 128; no '..')",
        )
        return None
    return got


def semver(issues: Issues, field: str, value: Any) -> str | None:
    got = text(issues, field, value, min_chars=1)
    if got is not None and parse_semver(got) is None:
        issues.add(field, f"{show(got)} is not a semantic version (e.g. 1.2.0)")
        return None
    return got
