"""Ingest inputs addressed by URI, so that a catalogue already in a bucket needs no local copy:
``s3://bucket/prefix/`` (every object below it), ``s3://bucket/key.mp4`` (one object), with
``?endpoint_override=host:port&scheme=http`` for S3-compatible servers, or any other
:mod:`pyarrow.fs` URI. The URI is read as ``ray_data_uri`` is (:func:`.storage.open_store`).

Each object is streamed (bounded memory) into a local temporary folder and then goes through the
same functions as a local file, under its URI (``s3://bucket/key``, never the query, which may
hold credentials): reports and the video's original name show the URI, and a re-run of the same
URI is recognised by content hash as for local files. The temporary folder lies inside the media
folder, so a new video's download is renamed into the media store (no second copy); it is removed
when ingest ends, also on failure.

A prefix follows the folder ingest's rules (:mod:`.inputs`): names rule out hidden, system,
subtitle and text objects without reading them; the others are downloaded, and those in which
probing finds no video or audio are skipped and deleted. Subtitle objects are downloaded beside
their video, where the sidecar search finds them; beside a single object, ``<stem>.srt``/``.vtt``
and ``<stem>.en.srt``/``.vtt`` are looked for. With ``--ray`` the driver downloads too: it needs
each object's content hash before any worker runs (dedupe, the media store's name), and the
workers then read the media from ``ray_data_uri`` as for local inputs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pyarrow import fs

from core.ingest.inputs import (
    SKIPPED,
    SUBTITLES_REASON,
    InputFile,
    skip_reason_by_content,
    skip_reason_by_name,
)
from core.ingest.pipeline import IngestResult, reason_of
from core.ingest.storage import DataStore, StorageError, open_store
from core.media.subtitles import SUBTITLE_SUFFIXES
from db.tables import VideoStatus

DOWNLOAD_THREADS = 8  # object stores answer many requests at once; one object streams each
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(raw: str | Path) -> bool:
    """True for a ``scheme://...`` string; a :class:`Path` is always a local path."""
    return isinstance(raw, str) and _SCHEME.match(raw) is not None


@dataclass
class ObjectScan:
    """Local copies of the objects to ingest, and a result for every object left out (skipped
    with the folder ingest's reason, or failed: missing, unreadable)."""

    files: list[InputFile] = field(default_factory=list)
    results: list[IngestResult] = field(default_factory=list)


@dataclass(frozen=True)
class _Object:
    """One object to download: its ``key`` in the store, its path under the download folder."""

    key: str
    local: Path


def fetch_objects(uris: Sequence[str], folder: Path) -> ObjectScan:
    """Download what ``uris`` name into ``folder`` (the caller removes it).

    Every URI is parsed and its bucket reached before anything is downloaded: a malformed URI,
    a missing bucket, refused credentials or an unreachable endpoint raise
    :class:`StorageError` with one line in words. A key with no object below it fails that
    input only, as a missing local path does.
    """
    stores = [(uri, open_store(uri, role="input")) for uri in uris]
    for _, store in stores:
        store.check()
    scan = ObjectScan()
    for index, (uri, store) in enumerate(stores):
        _fetch(_Source(uri, store), folder / str(index), scan)
    return scan


@dataclass(frozen=True)
class _Source:
    """One input URI and the store it names."""

    uri: str
    store: DataStore

    @property
    def root(self) -> str:
        return self.store.root.rstrip("/")

    def name(self, key: str) -> str:
        """How reports and the video's record name an object: the URI's scheme and the key."""
        return f"{self.uri.split('://', 1)[0]}://{key}"

    def info(self, selector: str | fs.FileSelector) -> fs.FileInfo | list[fs.FileInfo]:
        try:
            return self.store.filesystem.get_file_info(selector)
        except OSError as e:
            raise StorageError(f"cannot list {self.name(self.root)}: {reason_of(e)}") from e


def _fetch(source: _Source, into: Path, scan: ObjectScan) -> None:
    found = source.info(source.root)
    if found.type == fs.FileType.File:
        _fetch_one(source, into, scan)
    elif found.type == fs.FileType.Directory:
        _fetch_prefix(source, into, scan)
    else:
        where = source.name(source.root)
        scan.results.append(
            IngestResult(where, VideoStatus.FAILED, reason=f"no such object or folder: {where}")
        )


def _fetch_one(source: _Source, into: Path, scan: ObjectScan) -> None:
    """One object, taken as a single local file is (no name rules, no probing here), with the
    subtitles of the same stem beside it."""
    key = PurePosixPath(source.root)
    video = _Object(source.root, into / key.name)
    candidates = [
        f"{key.parent}/{key.stem}{language}{suffix}"
        for language in ("", ".en")
        for suffix in SUBTITLE_SUFFIXES
    ]
    subtitles = [
        _Object(found.path, into / PurePosixPath(found.path).name)
        for found in source.info(candidates)
        if found.type == fs.FileType.File
    ]
    failures = _download(source, [video, *subtitles])
    if video.key in failures:
        scan.results.append(_unreadable(source, video.key, failures[video.key]))
    else:
        scan.files.append(InputFile(video.local, source.name(video.key), temporary=True))


def _fetch_prefix(source: _Source, into: Path, scan: ObjectScan) -> None:
    """Every object below the prefix, by the folder ingest's rules (:mod:`.inputs`)."""
    listing = source.info(fs.FileSelector(source.root, recursive=True))
    candidates: list[tuple[PurePosixPath, _Object]] = []
    subtitles: list[tuple[PurePosixPath, _Object]] = []
    for found in sorted(listing, key=lambda info: info.path):
        if found.type != fs.FileType.File:
            continue
        relative = PurePosixPath(found.path).relative_to(source.root)
        entry = (relative, _Object(found.path, into.joinpath(*relative.parts)))
        reason = skip_reason_by_name(relative)
        if reason is None:
            candidates.append(entry)
            continue
        if reason == SUBTITLES_REASON and relative.suffix.lower() in SUBTITLE_SUFFIXES:
            subtitles.append(entry)  # reported once downloaded
        else:
            scan.results.append(IngestResult(str(relative), SKIPPED, reason=reason))
    failures = _download(source, [obj for _, obj in candidates + subtitles])
    for relative, obj in subtitles:
        reason = f"subtitles not read: {failures[obj.key]}" if obj.key in failures else None
        scan.results.append(IngestResult(str(relative), SKIPPED, reason=reason or SUBTITLES_REASON))
    for relative, obj in candidates:
        if obj.key in failures:
            scan.results.append(_unreadable(source, obj.key, failures[obj.key]))
            continue
        reason = skip_reason_by_content(obj.local)
        if reason is None:
            scan.files.append(InputFile(obj.local, source.name(obj.key), temporary=True))
        else:
            obj.local.unlink()
            scan.results.append(IngestResult(str(relative), SKIPPED, reason=reason))


def _download(source: _Source, objects: Sequence[_Object]) -> dict[str, str]:
    """Stream each object to its local path, a few at once; returns the reason per key that
    could not be read (that object fails, the others go on)."""

    def one(obj: _Object) -> str | None:
        try:
            obj.local.parent.mkdir(parents=True, exist_ok=True)
            fs.copy_files(
                obj.key,
                str(obj.local),
                source_filesystem=source.store.filesystem,
                destination_filesystem=fs.LocalFileSystem(),
            )
        except OSError as e:
            obj.local.unlink(missing_ok=True)
            return reason_of(e)
        return None

    with ThreadPoolExecutor(DOWNLOAD_THREADS, thread_name_prefix="ingest-download") as pool:
        reasons = list(pool.map(one, objects))
    return {obj.key: reason for obj, reason in zip(objects, reasons, strict=True) if reason}


def _unreadable(source: _Source, key: str, reason: str) -> IngestResult:
    return IngestResult(
        source.name(key), VideoStatus.FAILED, reason=f"cannot read the object: {reason}"
    )
