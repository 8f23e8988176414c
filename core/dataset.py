"""Labelled dataset import (CSV / JSON / JSONL) and export of effective labels (CSV / JSONL /
Parquet).

Dataset format: ``video_id,title,description,tags`` where ``tags`` is a comma-separated list of
``Tier 1: Tier 2: Tier 3`` paths (tag names may contain commas themselves, e.g. IAB's "Ear, Nose
and Throat Conditions": splitting takes the longest run of pieces that names a known tag).
Row numbers in messages count the header as row 1, like a spreadsheet. A NUL character
(``\\x00``) in any field is refused with the row named: PostgreSQL cannot store it in text.

The whole file is read and validated before anything is written; rows are then written in short
batches (so the dashboard keeps working during a large import), and if a batch fails every row
this import wrote is removed again, leaving the database as it was.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import Session

from core import review as review_rules
from core.charsets import TextDecodingError, decode_text
from core.errors import TaggerError
from core.ingest.formats import VIDEO_EXTENSIONS
from core.taxonomy import Taxonomy, UnknownTagError, load_from_db
from db.engine import Database, DatabaseError
from db.queries import Actor
from db.queries import audit as audit_queries
from db.queries import labels as label_queries
from db.queries import videos as video_queries
from db.tables import AuditAction, LabelSource, Video, VideoStatus

REQUIRED_COLUMNS = ("video_id", "title", "description", "tags")
EXPORT_FORMATS = ("csv", "jsonl", "parquet")
TAG_SEPARATOR = ", "
# csv's default field limit is 128 KiB, below descriptions that `export_labels` writes; this cap
# still stops a hostile file from growing one field without bound
MAX_CSV_FIELD_CHARS = 64 << 20

Progress = Callable[[int, int], None]


class DatasetError(TaggerError, ValueError):
    """The dataset file is unreadable or invalid; the message names the row."""


class DatasetImportError(DatabaseError):
    """Writing the import failed; everything this import wrote was removed again."""


@dataclass(frozen=True)
class DatasetRow:
    row: int
    video_id: str
    title: str
    description: str
    tags: tuple[str, ...]  # raw tag strings (one per tag, not yet resolved)


@dataclass(frozen=True)
class RowProblem:
    row: int
    video_id: str
    message: str


@dataclass
class ImportReport:
    rows: int = 0
    videos_created: int = 0
    videos_existing: int = 0  # already in the database (matched by video_id); not modified
    labels_added: int = 0
    files_matched: int = 0
    held_out: list[str] = field(default_factory=list)  # video_ids imported without labels
    problems: list[RowProblem] = field(default_factory=list)  # unknown tags, missing files
    encoding: str = "utf-8"  # what the file's bytes were read as


@dataclass(frozen=True)
class DatasetFile:
    rows: list[DatasetRow]
    encoding: str  # detected (utf-8, utf-16, cp1251, ...); the text is stored as UTF-8
    doubtful: bool = False  # the encoding was a weak guess: titles may be garbled


# --- reading ------------------------------------------------------------------------------------


def read_dataset(path: Path | str) -> list[DatasetRow]:
    """Parse and validate a dataset file (.csv, .json list of objects, or .jsonl)."""
    return read_dataset_file(path).rows


def read_dataset_file(path: Path | str) -> DatasetFile:
    """Like :func:`read_dataset`, with the text encoding the file was read with (spreadsheet
    exports are often UTF-16 or a legacy code page such as Windows-1251)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".jsonl"):
        raise DatasetError(
            f"{path}: unknown dataset type {suffix!r}; expected .csv, .json or .jsonl"
        )
    try:
        decoded = decode_text(path.read_bytes())
    except OSError as e:
        raise DatasetError(f"cannot read {path}: {e}") from e
    except TextDecodingError as e:
        raise DatasetError(f"{path} is not readable text: {e}") from e
    if suffix == ".csv":
        rows = _read_csv(path, decoded.text)
    else:
        rows = _read_json(path, decoded.text, lines=suffix == ".jsonl")
    seen: dict[str, int] = {}
    for row in rows:
        _check_no_nul(path, row)
        if not row.video_id:
            raise DatasetError(f"{path} row {row.row}: empty video_id")
        if row.video_id in seen:
            raise DatasetError(
                f"{path} row {row.row}: duplicate video_id {row.video_id!r} "
                f"(first in row {seen[row.video_id]})"
            )
        seen[row.video_id] = row.row
    return DatasetFile(rows=rows, encoding=decoded.encoding, doubtful=decoded.doubtful)


def _check_no_nul(path: Path, row: DatasetRow) -> None:
    """PostgreSQL cannot store NUL in text: refuse it here, on every backend, naming the field."""
    fields = {
        "video_id": (row.video_id,),
        "title": (row.title,),
        "description": (row.description,),
        "tags": row.tags,
    }
    for name, values in fields.items():
        if any("\x00" in value for value in values):
            raise DatasetError(f"{path} row {row.row}: {name} contains a NUL character (\\x00)")


def _read_csv(path: Path, text: str) -> list[DatasetRow]:
    csv.field_size_limit(max(csv.field_size_limit(), MAX_CSV_FIELD_CHARS))
    with io.StringIO(text, newline="") as f:
        reader = csv.reader(f, strict=True)
        rows: list[DatasetRow] = []
        n = 1  # the last row read; the header is row 1
        try:
            header = [h.strip().lower() for h in next(reader, [])]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise DatasetError(
                    f"{path} row 1: missing column(s) {missing}; expected {list(REQUIRED_COLUMNS)}"
                )
            pos = {c: header.index(c) for c in REQUIRED_COLUMNS}
            for n, record in enumerate(reader, start=2):
                if not record or not any(cell.strip() for cell in record):
                    continue
                if len(record) != len(header):
                    raise DatasetError(
                        f"{path} row {n}: expected {len(header)} fields, found {len(record)}"
                    )
                rows.append(
                    DatasetRow(
                        row=n,
                        video_id=record[pos["video_id"]].strip(),
                        title=record[pos["title"]].strip(),
                        description=record[pos["description"]].strip(),
                        tags=tuple(p for p in record[pos["tags"]].split(",") if p.strip()),
                    )
                )
        except csv.Error as e:
            raise DatasetError(f"{path} row {n + 1}: malformed CSV: {e}") from e
    return rows


def _read_json(path: Path, text: str, *, lines: bool) -> list[DatasetRow]:
    try:
        items = (
            [json.loads(line) for line in text.splitlines() if line.strip()]
            if lines
            else json.loads(text)
        )
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path}: invalid JSON at line {e.lineno}: {e.msg}") from e
    if not isinstance(items, list):
        raise DatasetError(f"{path}: expected a list of objects")
    rows = []
    for n, item in enumerate(items, start=2):
        if not isinstance(item, dict):
            raise DatasetError(f"{path} row {n}: expected an object")
        missing = [c for c in REQUIRED_COLUMNS if c not in item]
        if missing:
            raise DatasetError(f"{path} row {n}: missing field(s) {missing}")
        tags = item["tags"]
        if isinstance(tags, str):
            pieces = tuple(p for p in tags.split(",") if p.strip())
        elif isinstance(tags, list) and all(isinstance(t, str) for t in tags):
            pieces = tuple(t for t in tags if t.strip())
        else:
            raise DatasetError(f"{path} row {n}: 'tags' must be a string or a list of strings")
        rows.append(
            DatasetRow(
                row=n,
                video_id=str(item["video_id"]).strip(),
                title=str(item["title"] or "").strip(),
                description=str(item["description"] or "").strip(),
                tags=pieces,
            )
        )
    return rows


def resolve_tags(pieces: Sequence[str], taxonomy: Taxonomy) -> tuple[list[str], list[str]]:
    """Node ids and unknown tags for comma-split pieces, re-joining pieces of names with commas
    (longest known run wins)."""
    ids: list[str] = []
    unknown: list[str] = []
    i = 0
    while i < len(pieces):
        for j in range(len(pieces), i, -1):
            node = taxonomy.find(",".join(pieces[i:j]))
            if node is not None:
                if node.id not in ids:
                    ids.append(node.id)
                i = j
                break
        else:
            unknown.append(pieces[i].strip())
            i += 1
    return ids, unknown


def _unknown_message(unknown: list[str], taxonomy: Taxonomy) -> str:
    """``unknown tag 'X'; did you mean 'Y'?`` for each tag, joined."""
    messages = []
    for tag in unknown:
        try:
            taxonomy.resolve(tag)
        except UnknownTagError as e:
            messages.append(str(e))
    return "; ".join(messages)


def is_held_out(video_id: str, *, fraction: float, seed: int) -> bool:
    """Deterministic per video id and seed (independent of row order)."""
    digest = hashlib.sha256(f"{seed}:{video_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def _index_video_files(videos_dir: Path) -> dict[str, Path]:
    if not videos_dir.is_dir():
        raise DatasetError(f"videos folder {videos_dir} does not exist")
    found: dict[str, Path] = {}
    for p in sorted(videos_dir.iterdir()):
        if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS:
            found.setdefault(p.stem, p.resolve())
    return found


# --- importing ----------------------------------------------------------------------------------


def import_dataset(
    db: Database,
    path: Path | str,
    *,
    taxonomy: Taxonomy | None = None,
    videos_dir: Path | None = None,
    holdout_fraction: float = 0.0,
    seed: int = 0,
    batch_size: int = 500,
    user: Actor | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Create ``new`` videos and ``import`` labels from a dataset file.

    Videos whose ``video_id`` is already stored are left as they are (only missing imported
    labels are added), so re-running an import is harmless. ``holdout_fraction`` of the videos
    (chosen by ``seed``) get no labels: they stand for unreviewed uploads.
    """
    if not 0.0 <= holdout_fraction < 1.0:
        raise DatasetError(f"holdout fraction must be in [0, 1), got {holdout_fraction}")
    read = read_dataset_file(path)
    rows = read.rows
    files = _index_video_files(Path(videos_dir)) if videos_dir is not None else None
    if taxonomy is None:
        with db.session() as session:
            taxonomy = load_from_db(session)
    report = ImportReport(rows=len(rows), encoding=read.encoding)
    if read.doubtful:
        report.problems.append(
            RowProblem(
                1,
                "",
                f"the text encoding ({read.encoding}) was a guess: check titles for garbled"
                " letters, or save the file as UTF-8",
            )
        )
    resolved: list[tuple[DatasetRow, list[str], Path | None, bool]] = []
    for row in rows:
        node_ids, unknown = resolve_tags(row.tags, taxonomy)
        if unknown:
            report.problems.append(
                RowProblem(row.row, row.video_id, _unknown_message(unknown, taxonomy))
            )
        file = files.get(row.video_id) if files is not None else None
        if files is not None and file is None:
            report.problems.append(
                RowProblem(row.row, row.video_id, f"no video file {row.video_id}.* in {videos_dir}")
            )
        held = (
            is_held_out(row.video_id, fraction=holdout_fraction, seed=seed)
            if holdout_fraction
            else False
        )
        resolved.append((row, node_ids, file, held))

    created_ids: list[int] = []
    added_labels: list[tuple[int, str]] = []
    try:
        for start in range(0, len(resolved), batch_size):
            batch = resolved[start : start + batch_size]
            with db.session() as session:
                _write_batch(session, batch, report, created_ids, added_labels)
            if progress is not None:
                progress(min(start + batch_size, len(resolved)), len(resolved))
        with db.session() as session:
            audit_queries.add_audit(
                session,
                action=AuditAction.IMPORT,
                user=user,
                detail={
                    "file": str(path),
                    "encoding": report.encoding,
                    "rows": report.rows,
                    "videos_created": report.videos_created,
                    "labels_added": report.labels_added,
                    "held_out": len(report.held_out),
                    "problems": len(report.problems),
                },
            )
    except Exception as e:
        _undo(db, created_ids, added_labels)
        raise DatasetImportError(f"import of {path} failed and was rolled back: {e}") from e
    return report


def _write_batch(
    session: Session,
    batch: list[tuple[DatasetRow, list[str], Path | None, bool]],
    report: ImportReport,
    created_ids: list[int],
    added_labels: list[tuple[int, str]],
) -> None:
    existing = video_queries.find_videos_by_external_ids(
        session, external_ids=[r.video_id for r, *_ in batch]
    )
    new_videos: list[tuple[Video, list[str], bool]] = []
    pairs: list[tuple[int, str]] = []
    for row, node_ids, file, held in batch:
        if held:
            report.held_out.append(row.video_id)
        video = existing.get(row.video_id)
        if video is not None:
            report.videos_existing += 1
            if not held:
                pairs += [(video.id, n) for n in node_ids]
            continue
        video = Video(
            external_id=row.video_id,
            title=row.title,
            description=row.description,
            stored_path=str(file) if file else None,
            original_name=file.name if file else None,
            status=VideoStatus.NEW,
        )
        report.files_matched += file is not None
        new_videos.append((video, node_ids, held))
    video_queries.add_videos(session, videos=[v for v, _, _ in new_videos])
    for video, node_ids, held in new_videos:
        created_ids.append(video.id)
        if not held:
            pairs += [(video.id, n) for n in node_ids]
    report.videos_created += len(new_videos)
    added = label_queries.import_labels(session, labels=pairs)
    report.labels_added += len(added)
    added_labels.extend(added)


def _undo(db: Database, created_ids: list[int], added_labels: list[tuple[int, str]]) -> None:
    """Remove what a failed import committed in earlier batches."""
    created = set(created_ids)
    with db.session() as session:
        video_queries.delete_videos(session, video_ids=created_ids)
        label_queries.delete_labels(
            session,
            labels=[p for p in added_labels if p[0] not in created],
            source=LabelSource.IMPORT,
        )


# --- exporting ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportRecord:
    video_id: str
    title: str
    description: str
    tags: list[str]  # paths
    tag_ids: list[str]
    reviewed: bool


def iter_effective_records(
    db: Database, *, taxonomy: Taxonomy | None = None, page_size: int = 5000
) -> Iterator[ExportRecord]:
    """Every video with its effective labels, in id order, read in short sessions."""
    if taxonomy is None:
        with db.session() as session:
            taxonomy = load_from_db(session)
    after = None
    while True:
        with db.session() as session:
            videos = video_queries.list_videos(session, limit=page_size, after_id=after)
            labels = review_rules.effective_labels(session, video_ids=[v.id for v in videos])
        if not videos:
            return
        for video in videos:
            ids = labels.get(video.id, [])
            ids = sorted(ids, key=taxonomy.index)
            yield ExportRecord(
                video_id=video.external_id if video.external_id is not None else str(video.id),
                title=video.title,
                description=video.description,
                tags=[taxonomy.node(i).path for i in ids],
                tag_ids=ids,
                reviewed=video.reviewed_at is not None,
            )
        after = videos[-1].id


def export_labels(db: Database, out: Path | str, *, fmt: str | None = None) -> int:
    """Write effective labels (human where reviewed, else imported) to CSV (re-importable),
    JSONL or Parquet; returns the number of videos written."""
    out = Path(out)
    fmt = (fmt or out.suffix.lstrip(".")).lower()
    if fmt not in EXPORT_FORMATS:
        raise DatasetError(f"unknown export format {fmt!r}; expected one of {list(EXPORT_FORMATS)}")
    try:
        return _write_export(db, out, fmt)
    except OSError as e:  # the path the user named: missing rights, a full disk, a file as folder
        raise DatasetError(f"cannot write {out}: {e.strerror or e}") from e


def _write_export(db: Database, out: Path, fmt: str) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    records = iter_effective_records(db)
    if fmt == "csv":
        with out.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(REQUIRED_COLUMNS)
            n = 0
            for r in records:
                writer.writerow([r.video_id, r.title, r.description, TAG_SEPARATOR.join(r.tags)])
                n += 1
        return n
    if fmt == "jsonl":
        with out.open("w", encoding="utf-8") as f:
            n = 0
            for r in records:
                f.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")
                n += 1
        return n
    return _write_parquet(out, list(records))


def _write_parquet(out: Path, records: list[ExportRecord]) -> int:
    table = pa.table(
        {
            "video_id": pa.array([r.video_id for r in records], pa.string()),
            "title": pa.array([r.title for r in records], pa.string()),
            "description": pa.array([r.description for r in records], pa.string()),
            "tags": pa.array([r.tags for r in records], pa.list_(pa.string())),
            "tag_ids": pa.array([r.tag_ids for r in records], pa.list_(pa.string())),
            "reviewed": pa.array([r.reviewed for r in records], pa.bool_()),
        }
    )
    pq.write_table(table, out)
    return len(records)
