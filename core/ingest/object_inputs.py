"""Ingest inputs addressed by URI, so that a catalogue already in a bucket needs no local copy:
``s3://bucket/prefix/`` (every object below it), ``s3://bucket/key.mp4`` (one object), with
``?endpoint_override=host:port&scheme=http`` for S3-compatible servers, or any other
:mod:`pyarrow.fs` URI. The URI is read as ``ray_data_uri`` is (:func:`.storage.open_store`).

Each object is streamed (bounded memory) into a local temporary folder and then goes through the
same functions as a local file, under its URI (``s3://bucket/key``, never the query, which may
hold credentials): reports and the video's original name show the URI. Every URI is listed
before anything is downloaded (:func:`list_objects`), so that the caller can leave out objects
unchanged since their video was ingested (same URI, size and last-modified time): a re-run of an
unchanged prefix downloads no video. The others are downloaded (:func:`fetch_objects`) and a
re-run is recognised by content hash as for local files. The temporary folder lies inside the
media folder, so a new video's download is renamed into the media store (no second copy); it is
removed when ingest ends, also on failure.

A prefix follows the folder ingest's rules (:mod:`.inputs`): names rule out hidden, system,
subtitle and text objects without reading them; the others are downloaded, and those in which
probing finds no video or audio are skipped and deleted (they are read again on the next run:
nothing records them). Subtitle objects are downloaded beside their video, where the sidecar
search finds them, only when that video is downloaded; beside a single object,
``<stem>.srt``/``.vtt`` and ``<stem>.en.srt``/``.vtt`` are looked for. With ``--ray`` the driver
downloads too: it needs each object's content hash before any worker runs (dedupe, the media
store's name), and the workers then read the media from ``ray_data_uri`` as for local inputs.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from pyarrow import fs

from core.ingest.inputs import (
    SKIPPED,
    SUBTITLES_REASON,
    InputFile,
    ObjectVersion,
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


def open_sources(uris: Sequence[str]) -> list[ObjectSource]:
    """Parse every URI and reach its bucket, before anything is registered or downloaded: the
    check every ingest entry point makes (the CLI, the dashboard's job form, the job itself).

    A malformed URI, a missing bucket, refused credentials or an unreachable endpoint raise
    :class:`StorageError` with one line in words.
    """
    sources = [ObjectSource(uri, open_store(uri, role="input")) for uri in uris]
    for source in sources:
        source.store.check()
    return sources


@dataclass(frozen=True)
class ObjectSource:
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


@dataclass(frozen=True)
class _Object:
    """One object of a listing: its ``key`` in the store, its path under the download folder,
    and the version listed."""

    key: str
    local: Path
    version: ObjectVersion

    @classmethod
    def listed(cls, found: fs.FileInfo, local: Path) -> _Object:
        return cls(found.path, local, ObjectVersion(found.size, found.mtime))


@dataclass(frozen=True)
class _Listed:
    """One input URI's objects: ``media`` to ingest and, for a prefix (``single`` False), the
    ``subtitles`` read beside them. A prefix's media are probed after download and its
    subtitles reported as skipped; a single object is taken as a single local file is."""

    source: ObjectSource
    media: list[_Object]
    subtitles: list[_Object]
    single: bool


@dataclass
class ObjectListing:
    """What the input URIs hold, nothing downloaded yet: the objects to ingest, and a result for
    every object left out by its name (skipped) or missing (failed)."""

    results: list[IngestResult] = field(default_factory=list)
    _listed: list[_Listed] = field(default_factory=list)

    @property
    def versions(self) -> dict[str, ObjectVersion]:
        """The listed version of each object to ingest, by the URI that names it."""
        return {
            listed.source.name(obj.key): obj.version
            for listed in self._listed
            for obj in listed.media
        }


@dataclass
class ObjectScan:
    """Local copies of the objects to ingest, and a result for every object left out (skipped
    with the folder ingest's reason, or failed: missing, unreadable)."""

    files: list[InputFile] = field(default_factory=list)
    results: list[IngestResult] = field(default_factory=list)


def list_objects(uris: Sequence[str], folder: Path) -> ObjectListing:
    """List what ``uris`` name (:func:`open_sources` first), each object given a path under
    ``folder`` to be downloaded to. A key with no object below it fails that input only, as a
    missing local path does."""
    listing = ObjectListing()
    for index, source in enumerate(open_sources(uris)):
        _list(source, folder / str(index), listing)
    return listing


def fetch_objects(
    listing: ObjectListing, *, leave_out: Collection[str] = frozenset()
) -> ObjectScan:
    """Download the listed objects, except those whose URI is in ``leave_out`` (unchanged since
    ingested) and the subtitles beside them, a few at once (the caller removes the folder)."""
    scan = ObjectScan(results=list(listing.results))
    wanted = [
        (listed, [obj for obj in listed.media if listed.source.name(obj.key) not in leave_out])
        for listed in listing._listed
    ]
    downloads: list[tuple[ObjectSource, _Object]] = []
    for listed, media in wanted:
        subtitles = _subtitles_beside(listed, media)
        downloads += [(listed.source, obj) for obj in media + subtitles]
    failures = _download(downloads)
    for listed, media in wanted:
        if listed.single:
            _take_single(listed, media, failures, scan)
        else:
            _take_prefix(listed, media, failures, scan)
    return scan


def _list(source: ObjectSource, into: Path, listing: ObjectListing) -> None:
    found = source.info(source.root)
    if found.type == fs.FileType.File:
        video = _Object.listed(found, into / PurePosixPath(found.path).name)
        listing._listed.append(_Listed(source, [video], [], single=True))
    elif found.type == fs.FileType.Directory:
        _list_prefix(source, into, listing)
    else:
        where = source.name(source.root)
        listing.results.append(
            IngestResult(where, VideoStatus.FAILED, reason=f"no such object or folder: {where}")
        )


def _list_prefix(source: ObjectSource, into: Path, listing: ObjectListing) -> None:
    """Every object below the prefix, by the folder ingest's rules (:mod:`.inputs`)."""
    media: list[_Object] = []
    subtitles: list[_Object] = []
    for found in sorted(source.info(fs.FileSelector(source.root, recursive=True)), key=_path):
        if found.type != fs.FileType.File:
            continue
        relative = PurePosixPath(found.path).relative_to(source.root)
        obj = _Object.listed(found, into.joinpath(*relative.parts))
        reason = skip_reason_by_name(relative)
        if reason is None:
            media.append(obj)
        elif reason == SUBTITLES_REASON and relative.suffix.lower() in SUBTITLE_SUFFIXES:
            subtitles.append(obj)  # reported once the media are fetched
        else:
            listing.results.append(IngestResult(str(relative), SKIPPED, reason=reason))
    listing._listed.append(_Listed(source, media, subtitles, single=False))


def _path(info: fs.FileInfo) -> str:
    return info.path


def _subtitles_beside(listed: _Listed, media: Sequence[_Object]) -> list[_Object]:
    """The subtitle objects to download with ``media``: for a prefix, those the sidecar search
    could pick for one of them (``<stem>.srt``, ``<stem>.<lang>.vtt``); beside a single object,
    ``<stem>.srt``/``.vtt`` and ``<stem>.en.srt``/``.vtt`` when they exist."""
    if listed.single:
        if not media:
            return []
        key = PurePosixPath(media[0].key)
        candidates = [
            f"{key.parent}/{key.stem}{language}{suffix}"
            for language in ("", ".en")
            for suffix in SUBTITLE_SUFFIXES
        ]
        return [
            _Object.listed(found, media[0].local.parent / PurePosixPath(found.path).name)
            for found in listed.source.info(candidates)
            if found.type == fs.FileType.File
        ]
    stems = {(PurePosixPath(obj.key).parent, PurePosixPath(obj.key).stem) for obj in media}
    return [obj for obj in listed.subtitles if _beside(PurePosixPath(obj.key), stems)]


def _beside(subtitle: PurePosixPath, stems: Collection[tuple[PurePosixPath, str]]) -> bool:
    """True when the subtitle's name without its suffix is a video's stem, or that stem and a
    language tag (``a.en``)."""
    parts = subtitle.name[: -len(subtitle.suffix)].split(".")
    return any((subtitle.parent, ".".join(parts[:n])) in stems for n in range(1, len(parts) + 1))


def _take_single(
    listed: _Listed, media: Sequence[_Object], failures: dict[Path, str], scan: ObjectScan
) -> None:
    """One object, taken as a single local file is (no name rules, no probing here)."""
    for obj in media:
        name = listed.source.name(obj.key)
        if obj.local in failures:
            scan.results.append(_unreadable(name, failures[obj.local]))
        else:
            scan.files.append(InputFile(obj.local, name, temporary=True, version=obj.version))


def _take_prefix(
    listed: _Listed, media: Sequence[_Object], failures: dict[Path, str], scan: ObjectScan
) -> None:
    """A prefix's downloads: its subtitles reported, its media probed as a folder's files are."""
    for obj in listed.subtitles:
        relative = PurePosixPath(obj.key).relative_to(listed.source.root)
        reason = f"subtitles not read: {failures[obj.local]}" if obj.local in failures else None
        scan.results.append(IngestResult(str(relative), SKIPPED, reason=reason or SUBTITLES_REASON))
    for obj in media:
        name = listed.source.name(obj.key)
        if obj.local in failures:
            scan.results.append(_unreadable(name, failures[obj.local]))
            continue
        reason = skip_reason_by_content(obj.local)
        if reason is None:
            scan.files.append(InputFile(obj.local, name, temporary=True, version=obj.version))
        else:
            obj.local.unlink()
            relative = PurePosixPath(obj.key).relative_to(listed.source.root)
            scan.results.append(IngestResult(str(relative), SKIPPED, reason=reason))


def _download(objects: Sequence[tuple[ObjectSource, _Object]]) -> dict[Path, str]:
    """Stream each object to its local path, a few at once; returns the reason per local path
    whose object could not be read (that object fails, the others go on)."""

    def one(entry: tuple[ObjectSource, _Object]) -> str | None:
        source, obj = entry
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
    return {obj.local: reason for (_, obj), reason in zip(objects, reasons, strict=True) if reason}


def _unreadable(name: str, reason: str) -> IngestResult:
    return IngestResult(name, VideoStatus.FAILED, reason=f"cannot read the object: {reason}")
