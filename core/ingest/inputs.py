"""Which files an ingest takes: a folder's files are decided by name, then by content (probing);
every other file is reported as skipped with the reason. The same rules serve local folders and
object-storage prefixes (:mod:`.object_inputs`), so both skip the same files for the same reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath, PurePosixPath

from core.errors import TaggerError
from core.ingest.formats import VIDEO_EXTENSIONS
from core.ingest.pipeline import IngestResult
from core.media import decode as media

# Left out of folder ingest without opening them.
SYSTEM_FILES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db", "icon\r"})
SYSTEM_FOLDERS = frozenset({"__MACOSX", "$RECYCLE.BIN", "System Volume Information", "@eaDir"})
TEXT_EXTENSIONS = frozenset({".txt", ".csv", ".json", ".jsonl", ".md", ".nfo", ".xml", ".html"})
SUBTITLE_EXTENSIONS = frozenset({".srt", ".vtt", ".ass", ".ssa", ".sub"})
SKIPPED = "skipped"  # result status: nothing to do (no media file for a pending video)
SUBTITLES_REASON = "subtitles: read with the video of the same name"


class IngestError(TaggerError):
    """An ingest request that cannot start (unknown path, unreadable dataset CSV, storage that
    cannot be reached)."""


@dataclass(frozen=True)
class ObjectVersion:
    """Which version of an object a download is, as the store listed it: its size and
    last-modified time (None where the store gives none). Rewriting an object changes its
    last-modified time, so an object whose version is recorded for its video is unchanged."""

    size: int
    modified_at: datetime | None


@dataclass(frozen=True)
class InputFile:
    """A file to ingest. ``path`` is read; ``name`` is how reports and the video's record name
    it: the file name, or an object's URI. ``temporary``: a download that ingest may move into
    the media folder instead of copying it; ``version``: the object it was downloaded from."""

    path: Path
    name: str
    temporary: bool = False
    version: ObjectVersion | None = None

    @property
    def title(self) -> str:
        """The default title: the file name without its extension."""
        return PurePosixPath(self.name).stem

    @classmethod
    def local(cls, path: Path) -> InputFile:
        return cls(path, path.name)


@dataclass
class FolderScan:
    """The files of a folder to ingest, and every other file with the reason it was left out."""

    files: list[Path] = field(default_factory=list)
    skipped: list[IngestResult] = field(default_factory=list)


def scan_folder(folder: Path) -> FolderScan:
    """Files to ingest under ``folder`` (recursively), decided by content, not by name.

    Files named like videos are always taken (a damaged one then fails with its reason, visible
    in the queue); any other file is taken when probing finds a video or audio stream in it (an
    animated GIF, an .m4a, a .wav, a video without an extension). Hidden and system files,
    subtitle files (read with their video) and everything else are reported as skipped.
    """
    scan = FolderScan()
    for path in sorted(folder.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(folder)
        reason = _skip_reason(path, relative)
        if reason is None:
            scan.files.append(path)
        else:
            scan.skipped.append(IngestResult(str(relative), SKIPPED, reason=reason))
    return scan


def skip_reason_by_name(relative: PurePath) -> str | None:
    """Why a file at ``relative`` (to the folder scanned) is left out without opening it: hidden,
    system, subtitle or text files; None when its name alone does not rule it out."""
    if any(part.startswith(".") for part in relative.parts):
        return "hidden file"
    if relative.name.lower() in SYSTEM_FILES or any(p in SYSTEM_FOLDERS for p in relative.parts):
        return "system file"
    suffix = relative.suffix.lower()
    if suffix in SUBTITLE_EXTENSIONS:
        return SUBTITLES_REASON
    if suffix in TEXT_EXTENSIONS:
        return "not a video or audio file (text)"
    return None


def skip_reason_by_content(path: Path) -> str | None:
    """Why a file that passed :func:`skip_reason_by_name` is left out: None for a file named
    like a video (taken without opening it), else what probing its header finds."""
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        return None
    return media.not_media_reason(path)


def _skip_reason(path: Path, relative: Path) -> str | None:
    reason = skip_reason_by_name(relative)
    if reason is not None:
        return reason
    if path.is_symlink() and not path.exists():
        return "broken link"
    if not path.is_file():
        return "not a regular file (a pipe, socket or device)"
    return skip_reason_by_content(path)
