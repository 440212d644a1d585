"""Crawl: both layouts, from a local folder and from S3 (moto over HTTP)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from indexer.blobs import Blobs, LocalBlobs, S3Blobs
from indexer.crawl import CrawlResult, crawl_library, crawl_tenants
from indexer.model import LIBRARY_COLLECTION

# Every file is written with this old mtime, as a checked-out tree would be, so an edit
# made during the test is always newer than what the first crawl saw.
CHECKED_OUT_AT = 1_600_000_000

LIBRARY_FILES = [
    "playbooks/aws-ec2-restart/v1.0.0/metadata.json",
    "playbooks/aws-ec2-restart/v1.0.0/parameters.json",
    "playbooks/aws-ec2-restart/v1.0.0/explain_plan.json",
    "playbooks/aws-ec2-restart/v1.0.0/shell/restart.sh",
    "playbooks/aws-ec2-restart/v1.1.0/metadata.json",
    "playbooks/aws-ec2-restart/v1.1.0/python/restart.py",
    "playbooks/s3-audit/v2.0.0/metadata.json",
    "playbooks/s3-audit/v2.0.0/terraform/main.tf",
    "playbooks/s3-audit/v2.0.0/terraform/modules/bucket.tf",
    # Not playbook version folders:
    "playbooks/README.md",
    "playbooks/s3-audit/notes.txt",
    "playbooks/bad id/v1.0.0/metadata.json",
    "playbooks/.hidden/v1.0.0/metadata.json",
]
TENANT_FILES = [
    "tenants/acme/playbooks/acme-backup/v1.0.0/metadata.json",
    "tenants/acme/playbooks/acme-backup/v1.0.0/shell/backup.sh",
    "tenants/acme/playbooks/acme-backup/v1.0.1-rc.1/metadata.json",
    "tenants/globex/playbooks/gx-scale/v3.2.1/metadata.json",
    "tenants/globex/playbooks/gx-scale/v3.2.1/parameters.json",
    # initech exists but has no valid version folder:
    "tenants/initech/playbooks/notes.json",
    "tenants/initech/playbooks/a..b/v1.0.0/metadata.json",
    # not a valid tenant id:
    "tenants/Bad_Tenant/playbooks/x/v1.0.0/metadata.json",
]

EXPECTED_FOLDERS = {
    ("escher_library", None, "aws-ec2-restart", "v1.0.0"): {
        "metadata.json",
        "parameters.json",
        "explain_plan.json",
        "shell/restart.sh",
    },
    ("escher_library", None, "aws-ec2-restart", "v1.1.0"): {"metadata.json", "python/restart.py"},
    ("escher_library", None, "s3-audit", "v2.0.0"): {
        "metadata.json",
        "terraform/main.tf",
        "terraform/modules/bucket.tf",
    },
    ("tenant_acme_playbooks", "acme", "acme-backup", "v1.0.0"): {
        "metadata.json",
        "shell/backup.sh",
    },
    ("tenant_acme_playbooks", "acme", "acme-backup", "v1.0.1-rc.1"): {"metadata.json"},
    ("tenant_globex_playbooks", "globex", "gx-scale", "v3.2.1"): {
        "metadata.json",
        "parameters.json",
    },
}
EXPECTED_REJECTIONS = {
    "escher_library": {
        ("(layout)", "playbooks/README.md"),
        ("(layout)", "playbooks/s3-audit/notes.txt"),
        ("playbook_id", "playbooks/bad id"),
        ("playbook_id", "playbooks/.hidden"),
    },
    "tenant_initech_playbooks": {
        ("(layout)", "tenants/initech/playbooks/notes.json"),
        ("playbook_id", "tenants/initech/playbooks/a..b"),
    },
    "(tenants)": {("tenant_id", "tenants/Bad_Tenant")},
}


def _content(relpath: str) -> bytes:
    if relpath.endswith(".json"):
        return json.dumps({"file": relpath}).encode()
    return f"# {relpath}\n".encode()


def build_tree(root: Path, relpaths: list[str]) -> Path:
    for rel in relpaths:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_content(rel))
        os.utime(path, (CHECKED_OUT_AT, CHECKED_OUT_AT))
    return root


@dataclass
class Sources:
    """The library and tenant roots of one backend, and how to edit a file in them."""

    library: Blobs
    tenants: Blobs
    edit: Callable[[Blobs, str, bytes | None], None]

    def crawl(self, only: list[str] | None = None) -> CrawlResult:
        result = CrawlResult()
        crawl_library(self.library, result)
        crawl_tenants(self.tenants, result, only=only)
        return result


def _edit_local(blobs: Blobs, key: str, data: bytes | None) -> None:
    # In place, as an editor or `git pull` would, not through Blobs.write.
    path = blobs.local_path(key)
    assert path is not None
    if data is None:
        path.unlink()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _edit_s3(blobs: Blobs, key: str, data: bytes | None) -> None:
    if data is None:
        blobs.delete(key)
    else:
        blobs.write(key, data)


def local_sources(tmp_path: Path) -> Sources:
    library = build_tree(tmp_path / "library", LIBRARY_FILES)
    tenants = build_tree(tmp_path / "tenant-data", TENANT_FILES)
    return Sources(LocalBlobs(library), LocalBlobs(tenants), _edit_local)


def s3_sources(tmp_path: Path, s3: Any, make_bucket: Any, upload_tree: Any) -> Sources:
    library = build_tree(tmp_path / "library", LIBRARY_FILES)
    tenants = build_tree(tmp_path / "tenant-data", TENANT_FILES)
    upload_tree(library, make_bucket("escher-library"))
    upload_tree(tenants, make_bucket("escher-tenant-data"))
    return Sources(
        S3Blobs("escher-library", "", s3),
        S3Blobs("escher-tenant-data", "", s3),
        _edit_s3,
    )


@pytest.fixture(params=["local", "s3"])
def sources(request: pytest.FixtureRequest, tmp_path: Path) -> Sources:
    if request.param == "local":
        return local_sources(tmp_path)
    return s3_sources(
        tmp_path,
        request.getfixturevalue("s3"),
        request.getfixturevalue("make_bucket"),
        request.getfixturevalue("upload_tree"),
    )


def folder_files(result: CrawlResult) -> dict[tuple[str, str | None, str, str], set[str]]:
    return {
        (f.collection, f.tenant_id, f.playbook_id, f.version_dir): {i.key for i in f.files}
        for folders in result.folders.values()
        for f in folders
    }


def fingerprints(result: CrawlResult) -> dict[tuple[str, str, str], str]:
    return {
        (f.collection, f.playbook_id, f.version_dir): f.fingerprint
        for folders in result.folders.values()
        for f in folders
    }


def rejections(result: CrawlResult, sources: Sources) -> dict[str, set[tuple[str, str]]]:
    """Rejections as (field, path relative to the source root), per collection."""
    roots = (f"{sources.library.uri}/", f"{sources.tenants.uri}/")
    out: dict[str, set[tuple[str, str]]] = {}
    for collection, items in result.rejections.items():
        for r in items:
            root = next(root for root in roots if r.folder.startswith(root))
            out.setdefault(collection, set()).add((r.field, r.folder[len(root) :]))
    return out


# ----- tests ------------------------------------------------------------------------------


def test_every_version_folder_is_found_with_its_files(sources: Sources) -> None:
    result = sources.crawl()
    assert folder_files(result) == EXPECTED_FOLDERS


def test_version_folders_read_their_own_files(sources: Sources) -> None:
    result = sources.crawl()
    [folder] = [f for f in result.folders["escher_library"] if f.version_dir == "v1.1.0"]
    assert folder.read("python/restart.py") == _content(
        "playbooks/aws-ec2-restart/v1.1.0/python/restart.py"
    )
    info = folder.file("metadata.json")
    assert info is not None
    assert info.size == len(_content("playbooks/aws-ec2-restart/v1.1.0/metadata.json"))
    assert folder.file("parameters.json") is None
    assert folder.uri == sources.library.uri_for("playbooks/aws-ec2-restart/v1.1.0")
    assert folder.uri_of("metadata.json").endswith("playbooks/aws-ec2-restart/v1.1.0/metadata.json")


def test_every_tenant_is_discovered_even_without_valid_folders(sources: Sources) -> None:
    result = sources.crawl()
    assert set(result.folders) == {
        LIBRARY_COLLECTION,
        "tenant_acme_playbooks",
        "tenant_globex_playbooks",
        "tenant_initech_playbooks",
    }
    assert result.folders["tenant_initech_playbooks"] == []
    assert result.sources["tenant_initech_playbooks"] == [
        sources.tenants.uri_for("tenants/initech/playbooks")
    ]
    assert result.sources[LIBRARY_COLLECTION] == [sources.library.uri_for("playbooks")]


def test_stray_files_and_unsafe_names_become_rejections_naming_the_path(
    sources: Sources,
) -> None:
    result = sources.crawl()
    assert rejections(result, sources) == EXPECTED_REJECTIONS
    for items in result.rejections.values():
        for r in items:
            assert r.reason  # every rejection says why


def test_only_limits_the_crawl_to_those_tenants(sources: Sources) -> None:
    result = CrawlResult()
    crawl_tenants(sources.tenants, result, only=["globex", "acme"])
    assert set(result.folders) == {"tenant_acme_playbooks", "tenant_globex_playbooks"}
    assert {k[2] for k in folder_files(result)} == {"acme-backup", "gx-scale"}
    assert result.rejections == {}


def test_only_refuses_a_tenant_id_that_could_escape_its_prefix(sources: Sources) -> None:
    result = CrawlResult()
    crawl_tenants(sources.tenants, result, only=["../tenant-data", "acme/../globex"])
    assert not any(result.folders.values())
    assert {r.field for r in result.rejections["(tenants)"]} == {"tenant_id"}
    assert len(result.rejections["(tenants)"]) == 2


@pytest.mark.parametrize(
    ("key", "data"),
    [
        (  # same size, other content
            "playbooks/s3-audit/v2.0.0/terraform/main.tf",
            _content("playbooks/s3-audit/v2.0.0/terraform/main.tf").upper(),
        ),
        ("playbooks/s3-audit/v2.0.0/explain_plan.json", b"{}"),  # a file added
        ("playbooks/s3-audit/v2.0.0/terraform/modules/bucket.tf", None),  # a file removed
    ],
    ids=["rewritten", "added", "removed"],
)
def test_fingerprint_changes_only_for_the_folder_that_changed(
    sources: Sources, key: str, data: bytes | None
) -> None:
    before = fingerprints(sources.crawl())
    assert fingerprints(sources.crawl()) == before  # nothing changed, nothing moves

    sources.edit(sources.library, key, data)
    after = fingerprints(sources.crawl())

    changed = {k for k in before if before[k] != after[k]}
    assert changed == {("escher_library", "s3-audit", "v2.0.0")}
    assert set(after) == set(before)


def test_local_and_s3_crawls_of_the_same_tree_agree(
    tmp_path: Path, s3: Any, make_bucket: Any, upload_tree: Any
) -> None:
    local = local_sources(tmp_path / "local")
    remote = s3_sources(tmp_path / "remote", s3, make_bucket, upload_tree)
    # Folder markers, as the S3 console's "Create folder" leaves them, are not files.
    for key in ("playbooks/", "playbooks/s3-audit/", "playbooks/s3-audit/v2.0.0/"):
        s3.put_object(Bucket="escher-library", Key=key, Body=b"")
    s3.put_object(Bucket="escher-tenant-data", Key="tenants/acme/playbooks/", Body=b"")

    local_result, remote_result = local.crawl(), remote.crawl()

    def shape(result: CrawlResult) -> set[tuple[str, str, str, tuple[str, ...]]]:
        return {
            (c, pid, vdir, tuple(sorted(files)))
            for (c, _, pid, vdir), files in folder_files(result).items()
        }

    assert shape(local_result) == shape(remote_result)
    assert shape(local_result)  # not vacuously equal
    assert rejections(local_result, local) == rejections(remote_result, remote)
    assert {
        (f.collection, f.playbook_id, f.version_dir): {(i.key, i.size) for i in f.files}
        for fs in local_result.folders.values()
        for f in fs
    } == {
        (f.collection, f.playbook_id, f.version_dir): {(i.key, i.size) for i in f.files}
        for fs in remote_result.folders.values()
        for f in fs
    }


def test_s3_keys_with_dot_dot_segments_are_rejected_not_crawled(
    tmp_path: Path, s3: Any, make_bucket: Any, upload_tree: Any
) -> None:
    # A local folder cannot hold these names; S3 keys can.
    remote = s3_sources(tmp_path, s3, make_bucket, upload_tree)
    escaping = [
        "playbooks/../escape/v1.0.0/metadata.json",
        "playbooks/s3-audit/../metadata.json",
        "playbooks/s3-audit/v2.0.0/../../x.json",
    ]
    for key in escaping:
        s3.put_object(Bucket="escher-library", Key=key, Body=b"{}")

    result = remote.crawl()

    assert folder_files(result) == EXPECTED_FOLDERS
    got = rejections(result, remote)["escher_library"]
    assert got == EXPECTED_REJECTIONS["escher_library"] | {("(layout)", k) for k in escaping}
