"""Crawl: discover every playbook version folder under the library and tenant sources.

Layouts (identical on a local folder and on S3)::

    <library root>/playbooks/<playbook_id>/v<semver>/...
    <tenants root>/tenants/<tenant_id>/playbooks/<playbook_id>/v<semver>/...

Each root is listed once, recursively (S3: paginated ``list_objects_v2``), and the
objects are grouped into :class:`VersionFolder` s. Whatever does not fit the layout
(a file beside the version folders, a tenant id that could escape its prefix) becomes a
:class:`~indexer.report.Rejection` rather than stopping the crawl. Nothing is read
here but listings; :mod:`indexer.validate` reads the files.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from indexer.blobs import BlobInfo, Blobs
from indexer.model import (
    LIBRARY_COLLECTION,
    is_safe_id,
    is_valid_tenant,
    tenant_collection,
)
from indexer.report import Rejection


@dataclass(frozen=True)
class VersionFolder:
    """One ``<id>/v<version>/`` folder: where it is and what it holds (from the listing)."""

    collection: str
    tenant_id: str | None
    playbook_id: str
    version_dir: str
    blobs: Blobs = field(compare=False, repr=False)
    prefix: str = ""
    files: tuple[BlobInfo, ...] = ()  # keys relative to ``prefix``

    @property
    def uri(self) -> str:
        return self.blobs.uri_for(self.prefix)

    def file(self, relpath: str) -> BlobInfo | None:
        for f in self.files:
            if f.key == relpath:
                return f
        return None

    def read(self, relpath: str) -> bytes:
        return self.blobs.read(f"{self.prefix}/{relpath}")

    def uri_of(self, relpath: str) -> str:
        return self.blobs.uri_for(f"{self.prefix}/{relpath}")

    @property
    def fingerprint(self) -> str:
        """Changes whenever any file in the folder is added, removed or rewritten."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.key):
            h.update(f"{f.key}\0{f.size}\0{f.tag}\n".encode())
        return h.hexdigest()


@dataclass
class CrawlResult:
    """Folders per collection (every tenant found, even one whose folders all fail)."""

    folders: dict[str, list[VersionFolder]] = field(default_factory=dict)
    rejections: dict[str, list[Rejection]] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)
    # Per tenant collection: the write API's event objects (indexer.events), by source.
    events: dict[str, list[tuple[Blobs, list[BlobInfo]]]] = field(default_factory=dict)

    def add_folder(self, folder: VersionFolder) -> None:
        self.folders.setdefault(folder.collection, []).append(folder)

    def reject(self, collection: str, rejection: Rejection) -> None:
        self.folders.setdefault(collection, [])
        self.rejections.setdefault(collection, []).append(rejection)


def _group(
    infos: Iterable[BlobInfo], depth: int
) -> tuple[dict[tuple[str, ...], list[BlobInfo]], list[BlobInfo]]:
    """Group keys by their first ``depth`` path segments; shorter keys are strays."""
    groups: dict[tuple[str, ...], list[BlobInfo]] = defaultdict(list)
    strays: list[BlobInfo] = []
    for info in infos:
        parts = info.key.split("/")
        if len(parts) <= depth:
            strays.append(info)
            continue
        groups[tuple(parts[:depth])].append(info)
    return groups, strays


def _folder(
    blobs: Blobs,
    collection: str,
    tenant: str | None,
    base: str,
    pid: str,
    vdir: str,
    infos: list[BlobInfo],
) -> VersionFolder:
    prefix = f"{base}/{pid}/{vdir}"
    files = tuple(
        BlobInfo(i.key[len(prefix) + 1 :], i.size, i.tag)
        for i in sorted(infos, key=lambda i: i.key)
    )
    return VersionFolder(collection, tenant, pid, vdir, blobs, prefix, files)


def _add_playbooks(
    result: CrawlResult,
    blobs: Blobs,
    collection: str,
    tenant: str | None,
    base: str,
    infos: list[BlobInfo],
) -> None:
    """``infos`` are keys under ``base`` (``playbooks`` or ``tenants/<t>/playbooks``)."""
    rel = []
    for info in infos:
        if ".." in info.key.split("/"):
            # S3 allows such keys, but Blobs refuses to read them: report, don't group.
            result.reject(
                collection,
                Rejection(
                    blobs.uri_for(info.key),
                    "(layout)",
                    "object key has a '..' segment; it could escape its folder",
                ),
            )
            continue
        rel.append(BlobInfo(info.key[len(base) + 1 :], info.size, info.tag))
    groups, strays = _group(rel, 2)
    for stray in strays:
        result.reject(
            collection,
            Rejection(
                blobs.uri_for(f"{base}/{stray.key}"),
                "(layout)",
                f"file outside a version folder; expected {base}/<playbook_id>/v<semver>/<file>",
            ),
        )
    for (pid, vdir), members in sorted(groups.items()):
        if not is_safe_id(pid):
            result.reject(
                collection,
                Rejection(
                    blobs.uri_for(f"{base}/{pid}"),
                    "playbook_id",
                    "folder name is not a safe id (letters, digits, '.', '_', '-'; no '..')",
                ),
            )
            continue
        full = [BlobInfo(f"{base}/{m.key}", m.size, m.tag) for m in members]
        result.add_folder(_folder(blobs, collection, tenant, base, pid, vdir, full))


def crawl_library(blobs: Blobs, result: CrawlResult) -> None:
    """Add every ``playbooks/<id>/v<version>/`` folder under ``blobs`` to ``escher_library``."""
    result.sources.setdefault(LIBRARY_COLLECTION, []).append(blobs.uri_for("playbooks"))
    result.folders.setdefault(LIBRARY_COLLECTION, [])
    infos = list(blobs.list("playbooks"))
    _add_playbooks(result, blobs, LIBRARY_COLLECTION, None, "playbooks", infos)


def crawl_tenants(blobs: Blobs, result: CrawlResult, only: Iterable[str] | None = None) -> None:
    """Add every tenant's folders; ``only`` limits the crawl to those tenant ids."""
    wanted = set(only) if only is not None else None
    tenants = blobs.list_dirs("tenants") if wanted is None else sorted(wanted)
    for tenant in tenants:
        if not is_valid_tenant(tenant):
            result.rejections.setdefault("(tenants)", []).append(
                Rejection(
                    blobs.uri_for(f"tenants/{tenant}"),
                    "tenant_id",
                    "tenant folder name must match [a-z0-9][a-z0-9-]{0,62}",
                )
            )
            continue
        collection = tenant_collection(tenant)
        base = f"tenants/{tenant}/playbooks"
        result.sources.setdefault(collection, []).append(blobs.uri_for(base))
        result.folders.setdefault(collection, [])
        _add_playbooks(result, blobs, collection, tenant, base, list(blobs.list(base)))
        # tenants/<t>/events/ sits beside playbooks/, never inside it: not a playbook.
        events = list(blobs.list(f"tenants/{tenant}/events"))
        if events:
            result.events.setdefault(collection, []).append((blobs, events))


def crawl_version(
    blobs: Blobs, tenant: str, playbook_id: str, version: str
) -> tuple[VersionFolder | None, list[Rejection]]:
    """Just ``tenants/<tenant>/playbooks/<playbook_id>/v<version>/`` (the on-publish check).

    The caller has checked that ``tenant``, ``playbook_id`` and ``version`` are safe path
    segments. ``(None, [])`` when the folder holds no objects.
    """
    collection = tenant_collection(tenant)
    base = f"tenants/{tenant}/playbooks"
    result = CrawlResult()
    _add_playbooks(
        result,
        blobs,
        collection,
        tenant,
        base,
        list(blobs.list(f"{base}/{playbook_id}/v{version}")),
    )
    folders = result.folders.get(collection, [])
    return (folders[0] if folders else None), result.rejections.get(collection, [])
