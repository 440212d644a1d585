"""Validate one playbook version folder: accept it whole, normalised, or report every problem.

:func:`validate_folder` takes a :class:`~indexer.crawl.VersionFolder` and returns either a
:class:`ValidPlaybook` or the list of :class:`~indexer.report.Rejection` s found in one
pass (which folder or file, which field, what was found and what was expected). It never
raises for bad content, and a source read error (e.g. S3) becomes a rejection too.

What a folder may hold (limits are the module constants below):

- ``metadata.json`` (required), ``parameters.json`` and ``explain_plan.json``: UTF-8 JSON
  objects of at most :data:`MAX_DOCUMENT_BYTES` each;
- scripts: any file inside a subfolder; the first segment (a safe id, e.g. ``shell``,
  ``ssm``) is the script's format;
- anything else at the top level (``SOURCE.json``, ``README.md``) is ignored.

Sizes are checked from the listing before anything is read, and scripts are only read
(to checksum them) once everything else has passed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from indexer import _validate_fields as fields
from indexer._validate_fields import Issues, is_missing, optional
from indexer.blobs import BlobInfo
from indexer.crawl import VersionFolder
from indexer.errors import PlaybookError
from indexer.model import (
    AUTHORS,
    CLOUD_PROVIDERS,
    DOCUMENT_FILES,
    STATUSES,
    STORAGE_STRATEGIES,
    is_safe_id,
    is_valid_tenant,
    parse_semver,
)
from indexer.report import Rejection

MAX_DOCUMENT_BYTES: Final = 256 * 1024
MAX_SCRIPT_BYTES: Final = 5 * 1024 * 1024
MAX_FILES: Final = 200
MAX_FOLDER_BYTES: Final = 50 * 1024 * 1024
MAX_NAME_CHARS: Final = 200
MAX_DESCRIPTION_CHARS: Final = 5000

LIBRARY_AUTHORS: Final = ("escher_library",)
LIBRARY_STRATEGIES: Final = ("using_default",)
TENANT_AUTHORS: Final = ("user_custom", "ai_generated")
TENANT_STRATEGIES: Final = ("uploaded_for_review", "uploaded_trusted")


@dataclass(frozen=True)
class ScriptFile:
    format: str  # the top-level subfolder name: "shell", "python", "terraform", "ssm", ...
    path: str  # relative to the version folder, e.g. "shell/main.sh"
    uri: str
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class ValidPlaybook:
    """A folder that passed every check, with its documents parsed and normalised.

    ``metadata`` has exactly these keys: playbook_id, version, name, description, purpose
    ("" when absent), use_cases, keywords, prerequisites, cloud_provider, resource_types
    (lists, possibly empty), author, storage_strategy, status, tags (str -> str),
    estimated_impact (object or None), created_at, updated_at, last_executed_at (unix
    seconds or None), execution_count, success_count (0 when absent), success_rate (None
    when absent and never run), based_on_escher (False when absent), escher_playbook_id,
    escher_version (None when absent).
    """

    folder: VersionFolder
    metadata: dict[str, Any]
    parameters: dict[str, Any] | None
    explain_plan: dict[str, Any] | None
    scripts: tuple[ScriptFile, ...]


def validate_folder(folder: VersionFolder) -> ValidPlaybook | list[Rejection]:
    """Never raises for bad content: returns every problem found (as many as one pass can)."""
    issues = Issues(folder.uri)
    _check_names(folder, issues)
    # Zero-byte keys ending in '/' are S3 "folder" markers, not files.
    files = [f for f in folder.files if f.key and not (f.key.endswith("/") and f.size == 0)]
    scripts = _check_listing(folder, files, issues)

    docs = {name: _load(folder, name, issues) for name in DOCUMENT_FILES}
    metadata = None
    if folder.file("metadata.json") is None:
        issues.add("metadata.json", "required file is missing")
    elif (meta_doc := docs["metadata.json"]) is not None:
        metadata = _check_metadata(issues, meta_doc, folder)
    parameters = None
    if (param_doc := docs["parameters.json"]) is not None:
        parameters = fields.parameters(issues, param_doc)
    explain_plan = None
    if (plan_doc := docs["explain_plan.json"]) is not None:
        explain_plan = fields.explain_plan(issues, plan_doc)
    if issues.found:
        return issues.found

    checked = _read_scripts(folder, scripts, issues)
    if issues.found or metadata is None:
        return issues.found
    return ValidPlaybook(folder, metadata, parameters, explain_plan, checked)


def _check_names(folder: VersionFolder, issues: Issues) -> None:
    if not folder.version_dir.startswith("v") or parse_semver(folder.version_dir[1:]) is None:
        issues.add(
            "(folder)",
            f"folder name {fields.show(folder.version_dir)} is not 'v' followed by a "
            "semantic version (e.g. v1.2.0)",
        )
    if not is_safe_id(folder.playbook_id):
        issues.add(
            "(folder)",
            f"playbook folder {fields.show(folder.playbook_id)} is not a safe id "
            "(letters, digits, '.', '_', '-'; no '..')",
        )
    if folder.tenant_id is not None and not is_valid_tenant(folder.tenant_id):
        issues.add("(folder)", f"tenant {fields.show(folder.tenant_id)} is not a valid tenant id")


def _segment_problem(segment: str) -> str | None:
    if segment == "":
        return "has an empty path segment"
    if segment in (".", ".."):
        return f"has a {segment!r} path segment"
    if "\\" in segment:
        return "contains a backslash"
    if fields.CONTROL_CHARS.search(segment):
        return "contains a control character"
    return None


def _check_listing(folder: VersionFolder, files: list[BlobInfo], issues: Issues) -> list[BlobInfo]:
    """Counts, sizes and paths from the listing; returns the script files that passed."""
    if len(files) > MAX_FILES:
        issues.add("(folder)", f"holds {len(files)} files; at most {MAX_FILES} are allowed")
    total = sum(f.size for f in files)
    if total > MAX_FOLDER_BYTES:
        issues.add(
            "(folder)", f"holds {total} bytes; at most {MAX_FOLDER_BYTES} bytes (50 MiB) allowed"
        )
    scripts: list[BlobInfo] = []
    for info in files:
        segments = info.key.split("/")
        # A top-level file is a document or ignored (SOURCE.json, README.md); but a
        # backslash there is most likely a script uploaded with a Windows path.
        if len(segments) == 1 and "\\" not in info.key:
            continue
        problems = [p for p in map(_segment_problem, segments) if p]
        if problems:
            issues.add(fields.printable(info.key), f"unsafe path: {problems[0]}")
            continue
        uri = folder.uri_of(info.key)
        if not is_safe_id(segments[0]):
            issues.add(
                info.key,
                f"script folder {segments[0]!r} is not a safe id (letters, digits, '.', '_', '-')",
                uri,
            )
        elif info.size > MAX_SCRIPT_BYTES:
            issues.add(
                info.key,
                f"is {info.size} bytes; at most {MAX_SCRIPT_BYTES} bytes (5 MiB) are allowed",
                uri,
            )
        else:
            scripts.append(info)
    return scripts


def _load(folder: VersionFolder, name: str, issues: Issues) -> dict[str, Any] | None:
    """The parsed JSON object, or None when absent or unusable (and then reported)."""
    info = folder.file(name)
    if info is None:
        return None
    uri = folder.uri_of(name)
    too_big = f"at most {MAX_DOCUMENT_BYTES} bytes (256 KiB) are allowed"
    if info.size > MAX_DOCUMENT_BYTES:
        issues.add(name, f"is {info.size} bytes; {too_big}", uri)
        return None
    try:
        data = folder.read(name)
    except PlaybookError as exc:
        issues.add(name, f"could not be read: {exc.message}", uri)
        return None
    if len(data) > MAX_DOCUMENT_BYTES:  # rewritten since it was listed
        issues.add(name, f"is {len(data)} bytes; {too_big}", uri)
        return None
    try:
        source = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        issues.add(name, f"is not valid UTF-8 (byte {exc.start}: {exc.reason})", uri)
        return None
    try:
        doc = json.loads(source, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        issues.add(
            name, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", uri
        )
        return None
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        issues.add(name, f"is not valid JSON: {reason}", uri)
        return None
    if not isinstance(doc, dict):
        issues.add(name, f"top level must be a JSON object, got {fields.kind(doc)}", uri)
        return None
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _read_scripts(
    folder: VersionFolder, infos: list[BlobInfo], issues: Issues
) -> tuple[ScriptFile, ...]:
    out: list[ScriptFile] = []
    for info in infos:
        uri = folder.uri_of(info.key)
        try:
            data = folder.read(info.key)
        except PlaybookError as exc:
            issues.add(info.key, f"could not be read: {exc.message}", uri)
            continue
        if len(data) > MAX_SCRIPT_BYTES:  # rewritten since it was listed
            issues.add(
                info.key, f"is {len(data)} bytes; at most {MAX_SCRIPT_BYTES} bytes are allowed", uri
            )
            continue
        fmt = info.key.split("/", 1)[0]
        out.append(ScriptFile(fmt, info.key, uri, hashlib.sha256(data).hexdigest(), len(data)))
    return tuple(out)


def _check_metadata(
    issues: Issues, doc: dict[str, Any], folder: VersionFolder
) -> dict[str, Any] | None:
    """The normalised metadata (see :class:`ValidPlaybook`), or None when anything is wrong."""
    start = len(issues)
    out: dict[str, Any] = {}

    def at(key: str) -> str:
        return f"metadata.json:{key}"

    def required(key: str) -> None:
        issues.add(at(key), "required field is missing")

    if "playbook_id" in doc:
        pid = fields.safe_id(issues, at("playbook_id"), doc["playbook_id"])
        if pid is not None and pid != folder.playbook_id:
            issues.add(
                at("playbook_id"),
                f"playbook_id {pid!r} does not match folder {folder.playbook_id!r}",
            )
    else:
        required("playbook_id")
    out["playbook_id"] = folder.playbook_id
    if "version" in doc:
        version = fields.semver(issues, at("version"), doc["version"])
        if version is not None and f"v{version}" != folder.version_dir:
            issues.add(
                at("version"), f"version {version!r} does not match folder {folder.version_dir!r}"
            )
        out["version"] = version
    else:
        required("version")

    def given(key: str, default: Any, check: Callable[[Issues, str, Any], Any]) -> Any:
        value = optional(doc, key)
        return default if is_missing(value) else check(issues, at(key), value)

    for key, limit in (("name", MAX_NAME_CHARS), ("description", MAX_DESCRIPTION_CHARS)):
        if key in doc:
            out[key] = fields.text(issues, at(key), doc[key], min_chars=1, max_chars=limit)
        else:
            required(key)
    out["purpose"] = given("purpose", "", partial(fields.text, max_chars=MAX_DESCRIPTION_CHARS))

    if "cloud_provider" in doc:
        providers = doc["cloud_provider"]
        got = fields.text_list(
            issues,
            at("cloud_provider"),
            [providers] if isinstance(providers, str) else providers,
            max_items=fields.MAX_LIST_ITEMS,
            choices=CLOUD_PROVIDERS,
        )
        if got == []:
            issues.add(
                at("cloud_provider"), f"must list at least one of {', '.join(CLOUD_PROVIDERS)}"
            )
        out["cloud_provider"] = got
    else:
        required("cloud_provider")
    if "resource_types" in doc:
        out["resource_types"] = fields.text_list(
            issues,
            at("resource_types"),
            doc["resource_types"],
            max_items=fields.MAX_RESOURCE_TYPES,
            pattern=fields.RESOURCE_TYPE_PATTERN,
        )
    else:
        required("resource_types")

    enums = (("author", AUTHORS), ("storage_strategy", STORAGE_STRATEGIES), ("status", STATUSES))
    for key, choices in enums:
        if key in doc:
            out[key] = fields.choice(issues, at(key), doc[key], choices)
        else:
            required(key)
    _check_collection_rules(issues, folder, out.get("author"), out.get("storage_strategy"))

    for key, max_chars in fields.TEXT_LISTS:
        out[key] = given(
            key, [], partial(fields.text_list, max_items=fields.MAX_LIST_ITEMS, max_chars=max_chars)
        )
    out["tags"] = given("tags", {}, fields.tags)
    out["estimated_impact"] = given("estimated_impact", None, fields.estimated_impact)
    for key in fields.TIMESTAMPS:
        out[key] = given(key, None, fields.timestamp)
    _check_runs(issues, doc, out)
    out["based_on_escher"] = given("based_on_escher", False, fields.boolean)
    out["escher_playbook_id"] = given("escher_playbook_id", None, fields.safe_id)
    out["escher_version"] = given("escher_version", None, fields.semver)
    return out if len(issues) == start else None


def _check_runs(issues: Issues, doc: dict[str, Any], out: dict[str, Any]) -> None:
    """execution_count, success_count and success_rate (derived when not given)."""
    counts: dict[str, int | None] = {}
    for key in ("execution_count", "success_count"):
        value = optional(doc, key)
        if is_missing(value):
            counts[key] = 0
        else:
            at = f"metadata.json:{key}"
            counts[key] = fields.integer(issues, at, value, low=0, high=fields.MAX_COUNT)
    runs, successes = counts["execution_count"], counts["success_count"]
    if runs is not None and successes is not None and successes > runs:
        issues.add(
            "metadata.json:success_count",
            f"success_count {successes} is greater than execution_count {runs}",
        )
    out["execution_count"], out["success_count"] = runs, successes
    rate = optional(doc, "success_rate")
    if is_missing(rate):
        out["success_rate"] = successes / runs if runs and successes is not None else None
    elif isinstance(rate, bool) or not isinstance(rate, int | float):
        issues.add("metadata.json:success_rate", f"expected a number, got {fields.kind(rate)}")
    elif not 0 <= rate <= 1:
        issues.add("metadata.json:success_rate", f"expected a number from 0 to 1, got {rate}")
    else:
        out["success_rate"] = float(rate)


def _check_collection_rules(
    issues: Issues, folder: VersionFolder, author: str | None, strategy: str | None
) -> None:
    """Library playbooks are Escher's own; tenant playbooks are uploaded users' or AI's."""
    if folder.tenant_id is None:
        if author is not None and author not in LIBRARY_AUTHORS:
            issues.add(
                "metadata.json:author",
                f"library playbooks must have author 'escher_library'; got {author!r}",
            )
        if strategy is not None and strategy not in LIBRARY_STRATEGIES:
            issues.add(
                "metadata.json:storage_strategy",
                f"library playbooks must have storage_strategy 'using_default'; got {strategy!r}",
            )
        return
    if author is not None and author not in TENANT_AUTHORS:
        issues.add(
            "metadata.json:author",
            f"tenant playbooks must have author 'user_custom' or 'ai_generated'; got {author!r}",
        )
    if strategy == "local_only":
        issues.add(
            "metadata.json:storage_strategy",
            "local_only playbooks must never be uploaded to the server",
        )
    elif strategy is not None and strategy not in TENANT_STRATEGIES:
        issues.add(
            "metadata.json:storage_strategy",
            f"tenant playbooks must have storage_strategy 'uploaded_for_review' or "
            f"'uploaded_trusted'; got {strategy!r} (only the Escher library uses using_default)",
        )
