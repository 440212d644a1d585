"""indexer.validate: real folders on disk, crawled, then validated.

Each rule is asserted on the exact rejection field and a distinctive part of its reason,
as a user reading the run summary would see it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from indexer.blobs import BlobInfo, LocalBlobs
from indexer.crawl import CrawlResult, VersionFolder, crawl_library, crawl_tenants
from indexer.errors import SourceError
from indexer.report import Rejection
from indexer.validate import (
    MAX_DOCUMENT_BYTES,
    MAX_FILES,
    MAX_FOLDER_BYTES,
    MAX_SCRIPT_BYTES,
    ScriptFile,
    ValidPlaybook,
    validate_folder,
)

CORPUS = Path("/work/shared/corpus/real-runbooks/escher-library")
DROP: Any = object()  # in metadata(): remove the field
PID = "aws-rds-stop"
REQUIRED = (
    "playbook_id",
    "version",
    "name",
    "description",
    "cloud_provider",
    "resource_types",
    "author",
    "storage_strategy",
    "status",
)


def metadata(**changes: Any) -> dict[str, Any]:
    """A valid library metadata.json for ``aws-rds-stop`` v1.0.0, with ``changes``."""
    doc: dict[str, Any] = {
        "playbook_id": PID,
        "version": "1.0.0",
        "name": "Stop RDS instance",
        "description": "Snapshot an RDS instance, then stop it.",
        "cloud_provider": ["aws"],
        "resource_types": ["rds::instance"],
        "author": "escher_library",
        "storage_strategy": "using_default",
        "status": "active",
    }
    for key, value in changes.items():
        if value is DROP:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


TENANT_META = {"author": "user_custom", "storage_strategy": "uploaded_for_review"}


def write(path: Path, content: bytes | str | dict[str, Any] | list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict | list):
        content = json.dumps(content, indent=2)
    path.write_bytes(content.encode() if isinstance(content, str) else content)


def sparse(path: Path, size: int) -> None:
    """A file of ``size`` bytes that costs no disk (sizes come from the listing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        fh.truncate(size)


def make(
    root: Path,
    files: dict[str, Any] | None = None,
    *,
    meta: dict[str, Any] | None = None,
    pid: str = PID,
    vdir: str = "v1.0.0",
    tenant: str | None = None,
) -> Path:
    """Write one version folder; ``files`` maps relative paths to content (None: skip)."""
    base = root / "tenants" / tenant / "playbooks" if tenant else root / "playbooks"
    folder = base / pid / vdir
    contents: dict[str, Any] = {"metadata.json": meta if meta is not None else metadata()}
    contents.update(files or {})
    for rel, content in contents.items():
        if content is not None:
            write(folder / rel, content)
    return folder


def crawl_one(root: Path, tenant: str | None = None) -> VersionFolder:
    result = CrawlResult()
    if tenant:
        crawl_tenants(LocalBlobs(root), result)
    else:
        crawl_library(LocalBlobs(root), result)
    folders = [f for fs in result.folders.values() for f in fs]
    assert len(folders) == 1, (result.folders, result.rejections)
    return folders[0]


def validate(root: Path, tenant: str | None = None) -> ValidPlaybook | list[Rejection]:
    return validate_folder(crawl_one(root, tenant))


def rejected(root: Path, tenant: str | None = None) -> list[Rejection]:
    out = validate(root, tenant)
    assert isinstance(out, list), f"expected rejections, got a valid playbook: {out}"
    assert out, "an empty rejection list"
    return out


def assert_reason(rejections: list[Rejection], field: str, fragment: str) -> Rejection:
    matching = [r for r in rejections if r.field == field]
    assert matching, f"no rejection for {field!r}; got {[str(r) for r in rejections]}"
    for r in matching:
        if fragment in r.reason:
            return r
    raise AssertionError(f"{field!r}: {fragment!r} not in {[r.reason for r in matching]}")


def reject_meta(tmp_path: Path, tenant: str | None = None, **changes: Any) -> list[Rejection]:
    base = {**TENANT_META, **changes} if tenant else changes
    make(tmp_path, meta=metadata(**base), tenant=tenant)
    return rejected(tmp_path, tenant)


# --- valid folders ------------------------------------------------------------------------


def test_full_folder_is_valid_and_normalised(tmp_path: Path) -> None:
    scripts = {
        "shell/main.sh": b"#!/bin/bash\nset -e\naws rds stop-db-instance\n",
        "python/stop.py": b"import boto3\n",
        "terraform/modules/rds/main.tf": b'resource "x" "y" {}\n',
        "ssm/document.yaml": b"schemaVersion: '0.3'\n",
    }
    params = {
        "parameters": [
            {"name": "instance_id", "type": "string", "required": True, "default": None},
            {"name": "4xxAlarmName", "type": "string", "description": "From a real SSM doc"},
            {"name": "Backup Admin Email", "type": "string", "required": None},
        ]
    }
    plan = {"what_it_does": "Stops it", "what_happens": [{"step": 1, "action": "Stop"}]}
    meta = metadata(
        name="  Stop RDS instance\t",
        description="Line one\r\nLine two",
        cloud_provider="aws",
        keywords=["rds", "stop", "rds", "  ", " cost "],
        tags={"category": "cost", "requires_approval": True, "tier": 2, "ratio": 0.5},
        estimated_impact={"downtime_minutes": 10},
        created_at="2024-09-14T16:00:00Z",
        updated_at="2024-09-14T16:00:00",
        last_executed_at=1728391162,
        execution_count=4,
        success_count=3,
        based_on_escher=False,
        escher_playbook_id=None,
        unknown_field="dropped",
    )
    files: dict[str, Any] = {
        "parameters.json": params,
        "explain_plan.json": {"explain_plan": plan},
        "SOURCE.json": "not even json",
        "README.md": "# ignored",
        **scripts,
    }
    folder = make(tmp_path, files, meta=meta)

    out = validate(tmp_path)

    assert isinstance(out, ValidPlaybook), out
    m = out.metadata
    assert m["name"] == "Stop RDS instance"
    assert m["description"] == "Line one\nLine two"
    assert m["cloud_provider"] == ["aws"]
    assert m["keywords"] == ["rds", "stop", "cost"]
    assert m["tags"] == {
        "category": "cost",
        "requires_approval": "true",
        "tier": "2",
        "ratio": "0.5",
    }
    assert m["created_at"] == m["updated_at"] == 1726329600
    assert m["last_executed_at"] == 1728391162
    assert m["success_rate"] == 0.75
    assert m["escher_playbook_id"] is None
    assert "unknown_field" not in m
    assert out.parameters == params
    assert out.explain_plan == plan
    assert {s.path for s in out.scripts} == set(scripts)
    for s in out.scripts:
        data = scripts[s.path]
        assert s == ScriptFile(
            format=s.path.split("/")[0],
            path=s.path,
            uri=str(folder / s.path),
            sha256=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
        )


def test_minimal_folder_gets_defaults(tmp_path: Path) -> None:
    make(tmp_path, {"explain_plan.json": {"what_it_does": "unwrapped form"}})
    out = validate(tmp_path)
    assert isinstance(out, ValidPlaybook), out
    assert out.parameters is None
    assert out.explain_plan == {"what_it_does": "unwrapped form"}
    assert out.scripts == ()
    defaults = {k: v for k, v in out.metadata.items() if k not in REQUIRED}
    assert defaults == {
        "purpose": "",
        "use_cases": [],
        "keywords": [],
        "prerequisites": [],
        "tags": {},
        "estimated_impact": None,
        "created_at": None,
        "updated_at": None,
        "last_executed_at": None,
        "execution_count": 0,
        "success_count": 0,
        "success_rate": None,
        "based_on_escher": False,
        "escher_playbook_id": None,
        "escher_version": None,
    }


def test_s3_folder_markers_are_not_files(tmp_path: Path) -> None:
    make(tmp_path)
    folder = crawl_one(tmp_path)
    markers = (BlobInfo("", 0, "m"), BlobInfo("shell/", 0, "m"))
    out = validate_folder(dataclasses.replace(folder, files=folder.files + markers))
    assert isinstance(out, ValidPlaybook), out


# --- metadata.json fields -----------------------------------------------------------------


@pytest.mark.parametrize("field", REQUIRED)
def test_required_field_missing(tmp_path: Path, field: str) -> None:
    out = reject_meta(tmp_path, **{field: DROP})
    r = assert_reason(out, f"metadata.json:{field}", "required field is missing")
    assert r.folder == str(tmp_path / "playbooks" / PID / "v1.0.0")


@pytest.mark.parametrize(
    ("field", "value", "where", "fragment"),
    [
        ("playbook_id", 7, "playbook_id", "expected a string, got number"),
        ("name", 5, "name", "expected a string, got number"),
        ("description", ["a"], "description", "expected a string, got array"),
        ("cloud_provider", {"aws": 1}, "cloud_provider", "expected an array of strings, got obj"),
        ("resource_types", "rds::instance", "resource_types", "expected an array of strings"),
        ("author", True, "author", "expected a string, got boolean"),
        ("status", None, "status", "expected a string, got null"),
        ("purpose", 1, "purpose", "expected a string, got number"),
        ("use_cases", ["ok", 3], "use_cases[1]", "expected a string, got number"),
        ("keywords", "rds", "keywords", "expected an array of strings, got string"),
        ("tags", ["a"], "tags", "expected an object, got array"),
        ("tags", {"owner": None}, "tags.owner", "expected a string, boolean or number, got null"),
        ("estimated_impact", "big", "estimated_impact", "expected an object, got string"),
        ("execution_count", "3", "execution_count", "expected an integer, got string"),
        ("execution_count", True, "execution_count", "expected an integer, got boolean"),
        ("success_count", 1.5, "success_count", "expected an integer, got 1.5"),
        ("execution_count", -1, "execution_count", "expected an integer from 0"),
        ("success_rate", "0.5", "success_rate", "expected a number, got string"),
        ("success_rate", 1.5, "success_rate", "expected a number from 0 to 1, got 1.5"),
        ("based_on_escher", "yes", "based_on_escher", "expected a boolean (true or false)"),
        ("escher_playbook_id", "../etc", "escher_playbook_id", "is not a safe id"),
        ("escher_version", "1.0", "escher_version", "is not a semantic version"),
    ],
)
def test_wrong_type_or_value(
    tmp_path: Path, field: str, value: Any, where: str, fragment: str
) -> None:
    assert_reason(reject_meta(tmp_path, **{field: value}), f"metadata.json:{where}", fragment)


@pytest.mark.parametrize(
    ("field", "value", "where", "fragment"),
    [
        (
            "cloud_provider",
            ["aws", "oracle"],
            "cloud_provider[1]",
            "expected one of aws, azure, gcp; got 'oracle'",
        ),
        ("cloud_provider", "AWS", "cloud_provider[0]", "got 'AWS'"),
        ("cloud_provider", [], "cloud_provider", "must list at least one of aws, azure, gcp"),
        ("author", "robot", "author", "expected one of user_custom, escher_library, ai_generated"),
        ("storage_strategy", "s3", "storage_strategy", "expected one of local_only,"),
        ("status", "live", "status", "expected one of draft, ready, active,"),
    ],
)
def test_enumerations(tmp_path: Path, field: str, value: Any, where: str, fragment: str) -> None:
    assert_reason(reject_meta(tmp_path, **{field: value}), f"metadata.json:{where}", fragment)


@pytest.mark.parametrize(
    ("changes", "where", "fragment"),
    [
        ({"name": "Stop\x07"}, "name", "control character U+0007"),
        ({"keywords": ["ok", "bad\x1b[31m"]}, "keywords[1]", "control character U+001B"),
        ({"tags": {"k": "v\x00"}}, "tags.k", "control character U+0000"),
        ({"estimated_impact": {"note": "\x7f"}}, "estimated_impact.note", "U+007F"),
        ({"name": "   "}, "name", "must not be empty"),
        ({"name": "x" * 201}, "name", "is 201 characters long; at most 200"),
        ({"description": "x" * 5001}, "description", "at most 5000"),
        ({"keywords": ["k" * 101]}, "keywords[0]", "at most 100"),
        ({"use_cases": ["u"] * 101}, "use_cases", "has 101 items; at most 100"),
        ({"resource_types": ["RDS::Instance"]}, "resource_types[0]", "does not match"),
        ({"resource_types": ["rds"]}, "resource_types[0]", "does not match"),
        ({"resource_types": [f"ec2::t{i}" for i in range(51)]}, "resource_types", "at most 50"),
        ({"tags": {f"k{i}": "v" for i in range(51)}}, "tags", "has 51 keys; at most 50"),
        ({"tags": {"k" * 65: "v"}}, "tags." + "k" * 65, "at most 64"),
        ({"tags": {"k": "v" * 501}}, "tags.k", "at most 500"),
        ({"estimated_impact": {"n": "x" * 17000}}, "estimated_impact", "at most 16384"),
    ],
)
def test_string_and_size_rules(
    tmp_path: Path, changes: dict[str, Any], where: str, fragment: str
) -> None:
    assert_reason(reject_meta(tmp_path, **changes), f"metadata.json:{where}", fragment)


def test_version_must_match_folder(tmp_path: Path) -> None:
    make(tmp_path, meta=metadata(version="1.2.0"), vdir="v1.3.0")
    out = rejected(tmp_path)
    assert_reason(out, "metadata.json:version", "version '1.2.0' does not match folder 'v1.3.0'")


def test_version_must_be_semver(tmp_path: Path) -> None:
    make(tmp_path, meta=metadata(version="1.2"), vdir="v1.2")
    out = rejected(tmp_path)
    assert_reason(out, "metadata.json:version", "'1.2' is not a semantic version")
    assert_reason(out, "(folder)", "folder name 'v1.2' is not 'v' followed by a semantic version")


@pytest.mark.parametrize("vdir", ["1.0.0", "v1.0", "latest", "v01.0.0"])
def test_version_folder_name_must_be_v_semver(tmp_path: Path, vdir: str) -> None:
    make(tmp_path, vdir=vdir)
    assert_reason(rejected(tmp_path), "(folder)", f"folder name {vdir!r} is not 'v' followed")


def test_playbook_id_must_match_folder(tmp_path: Path) -> None:
    out = reject_meta(tmp_path, playbook_id="aws-rds-start")
    assert_reason(out, "metadata.json:playbook_id", "'aws-rds-start' does not match folder")


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ("../escape", "'../escape' is not a safe id"),
        ("a/b", "is not a safe id"),
        ("a..b", "is not a safe id"),
        ("bad\x01id", "contains control character U+0001"),
        ("", "must not be empty"),
    ],
)
def test_playbook_id_in_metadata_must_be_safe(tmp_path: Path, bad: str, fragment: str) -> None:
    assert_reason(reject_meta(tmp_path, playbook_id=bad), "metadata.json:playbook_id", fragment)


def test_playbook_folder_escaping_its_prefix_is_refused_by_the_crawl(tmp_path: Path) -> None:
    make(tmp_path, pid="a..b")
    result = CrawlResult()
    crawl_library(LocalBlobs(tmp_path), result)
    assert result.folders["escher_library"] == []
    assert_reason(result.rejections["escher_library"], "playbook_id", "not a safe id")


@pytest.mark.parametrize("bad", ["..", "bad\x01id", "a\\b"])
def test_playbook_folder_is_rechecked_by_validate(tmp_path: Path, bad: str) -> None:
    make(tmp_path)
    folder = dataclasses.replace(crawl_one(tmp_path), playbook_id=bad)
    out = validate_folder(folder)
    assert isinstance(out, list)
    assert_reason(out, "(folder)", "is not a safe id")


def test_success_count_above_execution_count(tmp_path: Path) -> None:
    out = reject_meta(tmp_path, execution_count=5, success_count=7)
    assert_reason(out, "metadata.json:success_count", "success_count 7 is greater than")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-09-14T16:00:00Z", 1726329600),
        ("2024-09-14T18:00:00+02:00", 1726329600),
        ("2024-09-14", 1726272000),
        (0, 0),
        (2**35 - 1, 2**35 - 1),
    ],
)
def test_timestamps_accepted(tmp_path: Path, value: Any, expected: int) -> None:
    make(tmp_path, meta=metadata(created_at=value, last_executed_at=value))
    out = validate(tmp_path)
    assert isinstance(out, ValidPlaybook), out
    assert out.metadata["created_at"] == out.metadata["last_executed_at"] == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (True, "got boolean"),
        (1726329600.5, "got 1726329600.5"),
        (-1, "out of range"),
        (2**35, "out of range"),
        ("yesterday", "'yesterday' is not ISO-8601"),
        ("1969-12-31T23:59:59Z", "out of range"),
    ],
)
def test_timestamps_refused(tmp_path: Path, value: Any, fragment: str) -> None:
    out = reject_meta(tmp_path, updated_at=value)
    assert_reason(out, "metadata.json:updated_at", fragment)


def test_every_problem_is_reported_in_one_pass(tmp_path: Path) -> None:
    make(
        tmp_path,
        {"parameters.json": {"parameters": "none"}},
        meta=metadata(name=1, status="live", cloud_provider=["x", "y"], author=DROP),
    )
    fields = {r.field for r in rejected(tmp_path)}
    assert fields == {
        "metadata.json:name",
        "metadata.json:status",
        "metadata.json:cloud_provider[0]",
        "metadata.json:cloud_provider[1]",
        "metadata.json:author",
        "parameters.json:parameters",
    }


# --- collection rules ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("author", "user_custom", "library playbooks must have author 'escher_library'"),
        ("author", "ai_generated", "got 'ai_generated'"),
        ("storage_strategy", "uploaded_trusted", "must have storage_strategy 'using_default'"),
        ("storage_strategy", "local_only", "got 'local_only'"),
    ],
)
def test_library_rules(tmp_path: Path, field: str, value: str, fragment: str) -> None:
    assert_reason(reject_meta(tmp_path, **{field: value}), f"metadata.json:{field}", fragment)


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("author", "escher_library", "tenant playbooks must have author 'user_custom' or"),
        ("storage_strategy", "local_only", "local_only playbooks must never be uploaded"),
        ("storage_strategy", "using_default", "only the Escher library uses using_default"),
    ],
)
def test_tenant_rules(tmp_path: Path, field: str, value: str, fragment: str) -> None:
    out = reject_meta(tmp_path, tenant="acme", **{field: value})
    assert_reason(out, f"metadata.json:{field}", fragment)


@pytest.mark.parametrize("author", ["user_custom", "ai_generated"])
@pytest.mark.parametrize("strategy", ["uploaded_for_review", "uploaded_trusted"])
def test_tenant_playbooks_accepted(tmp_path: Path, author: str, strategy: str) -> None:
    make(tmp_path, meta=metadata(author=author, storage_strategy=strategy), tenant="acme")
    out = validate(tmp_path, tenant="acme")
    assert isinstance(out, ValidPlaybook), out
    assert out.folder.collection == "tenant_acme_playbooks"


# --- documents ----------------------------------------------------------------------------


def test_metadata_json_is_required(tmp_path: Path) -> None:
    make(tmp_path, {"metadata.json": None, "shell/run.sh": "echo"})
    assert_reason(rejected(tmp_path), "metadata.json", "required file is missing")


@pytest.mark.parametrize("name", ["metadata.json", "parameters.json", "explain_plan.json"])
def test_oversize_document_is_refused_before_reading(tmp_path: Path, name: str) -> None:
    size = MAX_DOCUMENT_BYTES + 1024  # 257 KiB
    folder = make(tmp_path, {name: "{}" + " " * (size - 2)})
    r = assert_reason(rejected(tmp_path), name, f"is {size} bytes; at most 262144 bytes (256 KiB)")
    assert r.folder == str(folder / name)


@pytest.mark.parametrize("name", ["metadata.json", "parameters.json", "explain_plan.json"])
def test_document_that_does_not_parse(tmp_path: Path, name: str) -> None:
    make(tmp_path, {name: '{\n  "name": "x",\n  oops\n}\n'})
    assert_reason(rejected(tmp_path), name, "is not valid JSON: Expecting property name")
    assert_reason(rejected(tmp_path), name, "at line 3, column 3")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[1, 2]", "top level must be a JSON object, got array"),
        ('"text"', "top level must be a JSON object, got string"),
        (b'{"name": "\xff"}', "is not valid UTF-8 (byte 10"),
        ('{"n": NaN}', "NaN is not a JSON number"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_document_content(tmp_path: Path, content: Any, fragment: str) -> None:
    make(tmp_path, {"explain_plan.json": content})
    assert_reason(rejected(tmp_path), "explain_plan.json", fragment)


def test_utf8_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    make(tmp_path, {"metadata.json": b"\xef\xbb\xbf" + json.dumps(metadata()).encode()})
    assert isinstance(validate(tmp_path), ValidPlaybook)


def test_read_error_becomes_a_rejection(tmp_path: Path) -> None:
    class Failing(LocalBlobs):
        def read(self, key: str) -> bytes:
            if key.endswith("parameters.json"):
                raise SourceError("S3 error on parameters.json: SlowDown")
            return super().read(key)

    make(tmp_path, {"parameters.json": {"parameters": []}})
    folder = dataclasses.replace(crawl_one(tmp_path), blobs=Failing(tmp_path))
    out = validate_folder(folder)
    assert isinstance(out, list)
    assert_reason(out, "parameters.json", "could not be read: S3 error on parameters.json")


@pytest.mark.parametrize(
    ("params", "where", "fragment"),
    [
        ({}, "parameters", "required field is missing"),
        ({"parameters": {"a": 1}}, "parameters", "expected an array of objects, got object"),
        ({"parameters": ["region"]}, "parameters[0]", "expected an object, got string"),
        ({"parameters": [{"type": "string"}]}, "parameters[0].name", "required field is missing"),
        ({"parameters": [{"name": "a"}]}, "parameters[0].type", "required field is missing"),
        (
            {"parameters": [{"name": "a/b", "type": "string"}]},
            "parameters[0].name",
            "'a/b' does not match",
        ),
        ({"parameters": [{"name": " a", "type": "string"}]}, "parameters[0].name", "not match"),
        ({"parameters": [{"name": "a", "type": 3}]}, "parameters[0].type", "expected a string"),
        (
            {"parameters": [{"name": "a", "type": "string", "required": "yes"}]},
            "parameters[0].required",
            "expected a boolean",
        ),
        (
            {"parameters": [{"name": "a", "type": "string", "description": "d" * 2001}]},
            "parameters[0].description",
            "at most 2000",
        ),
    ],
)
def test_parameters_rules(
    tmp_path: Path, params: dict[str, Any], where: str, fragment: str
) -> None:
    make(tmp_path, {"parameters.json": params})
    assert_reason(rejected(tmp_path), f"parameters.json:{where}", fragment)


def test_duplicate_parameter_names(tmp_path: Path) -> None:
    names = ["region", "instance_id", "region"]
    params = {"parameters": [{"name": n, "type": "string"} for n in names]}
    make(tmp_path, {"parameters.json": params})
    out = rejected(tmp_path)
    assert_reason(
        out,
        "parameters.json:parameters[2].name",
        "duplicate parameter name 'region' (also parameters[0])",
    )
    assert len(out) == 1


@pytest.mark.parametrize(
    ("plan", "where", "fragment"),
    [
        ({"explain_plan": []}, "explain_plan", "expected an object, got array"),
        ({"what_it_does": 1}, "what_it_does", "expected a string, got number"),
        ({"what_happens": {}}, "what_happens", "expected an array of objects"),
        ({"what_happens": [{"step": 1}]}, "what_happens[0].action", "required field is missing"),
        (
            {"what_happens": [{"action": "x", "step": "1"}]},
            "what_happens[0].step",
            "expected an integer, got string",
        ),
        (
            {"explain_plan": {"risks": ["fire"]}},
            "explain_plan.risks[0]",
            "expected an object, got string",
        ),
    ],
)
def test_explain_plan_rules(
    tmp_path: Path, plan: dict[str, Any], where: str, fragment: str
) -> None:
    make(tmp_path, {"explain_plan.json": plan})
    assert_reason(rejected(tmp_path), f"explain_plan.json:{where}", fragment)


# --- scripts and folder limits ------------------------------------------------------------


def test_oversize_script(tmp_path: Path) -> None:
    folder = make(tmp_path)
    sparse(folder / "shell" / "big.sh", MAX_SCRIPT_BYTES + 1)
    r = assert_reason(rejected(tmp_path), "shell/big.sh", "is 5242881 bytes; at most 5242880")
    assert r.folder == str(folder / "shell" / "big.sh")


def test_too_many_files(tmp_path: Path) -> None:
    make(tmp_path, {f"shell/s{i:03}.sh": "echo" for i in range(MAX_FILES)})  # + metadata.json
    assert_reason(rejected(tmp_path), "(folder)", "holds 201 files; at most 200 are allowed")


def test_folder_total_size(tmp_path: Path) -> None:
    folder = make(tmp_path)
    for i in range(MAX_FOLDER_BYTES // MAX_SCRIPT_BYTES + 1):
        sparse(folder / "terraform" / f"part{i}.tf", MAX_SCRIPT_BYTES)
    out = rejected(tmp_path)
    assert_reason(out, "(folder)", "at most 52428800 bytes (50 MiB)")
    assert [r.field for r in out] == ["(folder)"]  # each script alone is within its limit


def test_control_character_in_script_path(tmp_path: Path) -> None:
    make(tmp_path, {"shell/run\x01.sh": "echo"})
    assert_reason(rejected(tmp_path), "shell/run\\x01.sh", "unsafe path: contains a control")


@pytest.mark.parametrize(
    ("key", "field", "fragment"),
    [
        ("shell/../../evil.sh", "shell/../../evil.sh", "has a '..' path segment"),
        ("shell//run.sh", "shell//run.sh", "has an empty path segment"),
        ("shell\\run.sh", "shell\\run.sh", "contains a backslash"),
        ("shell/./run.sh", "shell/./run.sh", "has a '.' path segment"),
    ],
)
def test_unsafe_script_paths(tmp_path: Path, key: str, field: str, fragment: str) -> None:
    # Such keys exist on S3 but not on a local disk: add them to the listing directly.
    make(tmp_path)
    folder = crawl_one(tmp_path)
    folder = dataclasses.replace(folder, files=(*folder.files, BlobInfo(key, 4, "t")))
    out = validate_folder(folder)
    assert isinstance(out, list)
    assert_reason(out, field, f"unsafe path: {fragment}")


@pytest.mark.parametrize("name", ["_private", "My Scripts"])
def test_script_folder_must_be_a_safe_id(tmp_path: Path, name: str) -> None:
    make(tmp_path, {f"{name}/run.sh": "echo"})
    assert_reason(rejected(tmp_path), f"{name}/run.sh", f"script folder {name!r} is not a safe id")


def test_any_safe_script_folder_is_a_format(tmp_path: Path) -> None:
    make(tmp_path, {"ssm/doc.yaml": "a: 1", "pulumi/index.ts": "export {}", "notes\x01.txt": "x"})
    out = validate(tmp_path)
    assert isinstance(out, ValidPlaybook), out
    assert [(s.format, s.path) for s in out.scripts] == [
        ("pulumi", "pulumi/index.ts"),
        ("ssm", "ssm/doc.yaml"),
    ]


# --- the real corpus ----------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"{CORPUS} is absent")
def test_every_real_library_playbook_validates() -> None:
    result = CrawlResult()
    crawl_library(LocalBlobs(CORPUS), result)
    folders = result.folders["escher_library"]
    problems = [str(r) for rs in result.rejections.values() for r in rs]
    for folder in folders:
        out = validate_folder(folder)
        if isinstance(out, list):
            problems.extend(str(r) for r in out)
    assert folders
    assert problems == []
