"""Backup and restore: every table as Parquet plus the model artifacts, in one checked archive.

An archive is a tar file holding

- ``manifest.json``: format, schema version, and for every other member its sha256 (and, for
  tables, the row count and column types);
- ``tables/<table>.parquet``: every row of every table (``schema_info`` is the manifest's
  ``schema_version``), with column types mapped exactly (UTC microsecond timestamps, float64,
  vectors as binary), so a DuckDB backup restores into PostgreSQL and back without loss;
- ``data/models/v<id>/...``: the files of every model version (and, with ``include_media``,
  ``data/media/...`` and ``data/thumbnails/...``), at their path relative to ``data_dir``.

All tables are read in ONE unit of work, so the archive is a consistent snapshot (the labels
match the audit log). On DuckDB that holds the database lock while the rows are read (writers
wait a few seconds); on PostgreSQL a REPEATABLE READ transaction gives the snapshot without
blocking anyone.

An archive written by an earlier version of the product (a lower schema version) restores too:
what the upgrades since added (tables, nullable columns) is restored empty, as ``init_db``'s
upgrade would leave it. An archive of a newer schema is refused.

Restore only goes into an empty database (and a data folder without other files at those paths):
it never merges or overwrites. Every member is checked against the manifest before anything is
written, files are put in place first, then all rows are inserted in one transaction, so a failed
restore leaves the database empty and removes the files it placed; after a killed restore, running
it again finds the identical files already in place and completes. Sequences are moved past the
restored ids so new rows never collide with restored ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO

import pyarrow as pa
import pyarrow.parquet as pq
from sqlmodel import Session

from core.config import Settings
from core.errors import TaggerError
from core.media.decode import content_hash
from db.engine import Database, init_db, latest_schema_version
from db.queries import backup as backup_q

FORMAT = "video-tagger-backup"
FORMAT_VERSION = 1
MANIFEST_FILE = "manifest.json"
TABLES_DIR = "tables"
DATA_DIR = "data"  # archive folder mirroring Settings.data_dir
BATCH_ROWS = 5000
# column kinds (db.queries.backup.column_kinds) -> the Arrow type that holds their values exactly
_ARROW_TYPES = {
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "binary": pa.binary(),
    "string": pa.string(),
}
_SAFE_MEMBER = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


class BackupError(TaggerError):
    """An archive that cannot be written, read or trusted (the message says which and why)."""


class RestoreTargetNotEmptyError(BackupError):
    """Restore refuses a database (or data folder) that already holds data."""


@dataclass(frozen=True)
class TableEntry:
    file: str
    rows: int
    sha256: str
    columns: dict[str, str]  # column name -> Arrow type


@dataclass(frozen=True)
class Manifest:
    format: str
    format_version: int
    schema_version: int
    created_at: str
    source_backend: str
    tables: dict[str, TableEntry]
    files: dict[str, str]  # archive path -> sha256 (artifacts, media)
    skipped_artifacts: list[str] = field(default_factory=list)  # damaged model dirs left out


@dataclass(frozen=True)
class BackupReport:
    path: Path
    rows: dict[str, int]
    files: int
    bytes: int
    skipped_artifacts: list[str]


@dataclass(frozen=True)
class RestoreReport:
    rows: dict[str, int]
    files: int
    schema_version: int


# --- backup -------------------------------------------------------------------------------------


def create_backup(
    db: Database, out: Path | str, *, settings: Settings, include_media: bool = False
) -> BackupReport:
    """Write a self-contained archive of the database and the model artifacts to ``out``.

    ``out`` must not exist yet (a backup never replaces another). The archive appears only when
    complete (written beside it, then renamed).
    """
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists; give a new file name")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging_dir = tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}-")
    except OSError as e:  # the place the user named: missing rights, not a folder, read-only
        raise BackupError(f"cannot write into the folder of {out}: {e.strerror or e}") from e
    with staging_dir as tmp:
        staging = Path(tmp)
        with db.session() as session:
            backup_q.use_snapshot(session, duckdb=db.is_duckdb)
            tables = {
                table: _export_table(session, table, staging)
                for table in backup_q.exported_tables()
            }
            artifact_paths = backup_q.artifact_paths(session)
        files, skipped = _data_files(settings, artifact_paths, include_media)
        manifest = Manifest(
            format=FORMAT,
            format_version=FORMAT_VERSION,
            schema_version=latest_schema_version(),
            created_at=datetime.now(UTC).isoformat(),
            source_backend=db.backend,
            tables=tables,
            files={name: content_hash(path) for name, path in files.items()},
            skipped_artifacts=skipped,
        )
        (staging / MANIFEST_FILE).write_text(
            json.dumps(asdict(manifest), indent=1, ensure_ascii=False)
        )
        temp_archive = staging / "archive.tar"
        with tarfile.open(temp_archive, "w") as tar:
            tar.add(staging / MANIFEST_FILE, arcname=MANIFEST_FILE)
            for entry in tables.values():
                tar.add(staging / entry.file, arcname=entry.file)
            for name, path in files.items():
                tar.add(path, arcname=name, recursive=False)
        _fsync(temp_archive)
        try:
            os.link(
                temp_archive, out
            )  # unlike a rename, never replaces a file that appeared meanwhile
        except FileExistsError as e:
            raise BackupError(f"{out} already exists; give a new file name") from e
        except PermissionError:  # a filesystem without hard links (FAT, some network shares)
            os.replace(temp_archive, out)
    return BackupReport(
        path=out,
        rows={name: entry.rows for name, entry in tables.items()},
        files=len(files),
        bytes=out.stat().st_size,
        skipped_artifacts=skipped,
    )


def _schema(table: str) -> pa.Schema:
    try:
        kinds = backup_q.column_kinds(table=table)
    except TypeError as e:
        raise BackupError(f"backup cannot map a column: {e}") from e
    return pa.schema(
        [pa.field(name, _ARROW_TYPES[kind], nullable=True) for name, kind in kinds.items()]
    )


def _export_table(session: Session, table: str, staging: Path) -> TableEntry:
    schema = _schema(table)
    name = f"{TABLES_DIR}/{table}.parquet"
    path = staging / name
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in backup_q.iter_rows(session, table=table, batch_rows=BATCH_ROWS):
            writer.write_batch(pa.RecordBatch.from_pylist(batch, schema=schema))
            rows += len(batch)
    return TableEntry(
        file=name,
        rows=rows,
        sha256=content_hash(path),
        columns={f.name: str(f.type) for f in schema},
    )


def _data_files(
    settings: Settings, artifact_paths: list[str], include_media: bool
) -> tuple[dict[str, Path], list[str]]:
    """Archive name -> file on disk for every model artifact (and media); damaged or missing
    model folders are left out and named in the second value."""
    from core.lifecycle.registry import (  # loads torch: only when backing up
        ArtifactError,
        verify_artifact,
    )

    data_dir = settings.data_dir
    files: dict[str, Path] = {}
    skipped: list[str] = []
    for relative in artifact_paths:
        folder = data_dir / relative
        try:
            verify_artifact(folder)
        except ArtifactError:
            skipped.append(relative)
            continue
        files.update(_tree(folder, data_dir))
    if include_media:
        for folder in (settings.media_dir, settings.thumbnails_dir):
            if folder.is_dir():
                files.update(_tree(folder, data_dir))
    return files, skipped


def _tree(folder: Path, data_dir: Path) -> dict[str, Path]:
    """Regular files under ``folder`` (temp files starting with a dot excluded)."""
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(data_dir)
        if (
            path.is_file()
            and not path.is_symlink()
            and not any(part.startswith(".") for part in relative.parts)
        ):
            found[f"{DATA_DIR}/{relative.as_posix()}"] = path
    return found


# --- restore ------------------------------------------------------------------------------------


def read_manifest(archive: Path | str) -> Manifest:
    """The archive's manifest (format and version checked; members are checked by restore)."""
    with _open_archive(Path(archive)) as tar:
        return _manifest(tar)


def restore_backup(db: Database, archive: Path | str, *, settings: Settings) -> RestoreReport:
    """Restore an archive into an EMPTY database and data folder; see the module docstring.

    Raises :class:`RestoreTargetNotEmptyError` when the database has any row (or a file to
    restore already exists) and :class:`BackupError` for a damaged or incompatible archive.
    """
    archive = Path(archive)
    init_db(db)
    _check_empty(db)
    settings.ensure_dirs()
    with (
        _open_archive(archive) as tar,
        tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as tmp,
    ):
        manifest = _manifest(tar)
        staging = Path(tmp)
        members = {entry.file: entry.sha256 for entry in manifest.tables.values()} | manifest.files
        for name, digest in members.items():
            _extract_checked(tar, name, digest, staging)
        targets = {
            name: settings.data_dir / PurePosixPath(name).relative_to(DATA_DIR)
            for name in manifest.files
        }
        # the same bytes already in place (a restore killed after placing files) are kept; others
        # clash
        present = {
            name
            for name, path in targets.items()
            if path.is_file() and content_hash(path) == manifest.files[name]
        }
        clashes = [
            str(path) for name, path in targets.items() if path.exists() and name not in present
        ]
        if clashes:
            raise RestoreTargetNotEmptyError(
                f"{len(clashes)} file(s) to restore already exist, e.g. {clashes[0]}; "
                "restore into a new data folder"
            )
        placed: list[Path] = []
        try:
            for name, target in targets.items():
                if name in present:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(staging / name, target)
                placed.append(target)
            rows = _insert_tables(db, manifest, staging)
        except BaseException:
            for path in placed:
                path.unlink(missing_ok=True)
            raise
    return RestoreReport(rows=rows, files=len(targets), schema_version=manifest.schema_version)


@contextmanager
def _open_archive(archive: Path) -> Iterator[tarfile.TarFile]:
    if not archive.is_file():
        raise BackupError(f"no such backup archive: {archive}")
    try:
        with tarfile.open(archive, "r:*") as tar:
            yield tar
    except tarfile.TarError as e:
        raise BackupError(f"{archive} is not a readable backup archive: {e}") from e


def _manifest(tar: tarfile.TarFile) -> Manifest:
    try:
        raw = json.loads(_read_member(tar, MANIFEST_FILE))
        tables = {name: TableEntry(**entry) for name, entry in raw.pop("tables").items()}
        manifest = Manifest(tables=tables, **raw)
    except (KeyError, TypeError, ValueError) as e:
        raise BackupError(f"the archive has no valid {MANIFEST_FILE}: {e}") from e
    if manifest.format != FORMAT or manifest.format_version != FORMAT_VERSION:
        raise BackupError(
            f"unsupported archive format {manifest.format!r} version {manifest.format_version}"
        )
    latest = latest_schema_version()
    if not 1 <= manifest.schema_version <= latest:
        raise BackupError(
            f"the archive has database schema version {manifest.schema_version}, this product uses "
            f"{latest}; restore it with the product version that wrote it"
        )
    expected = {
        table: {f.name: str(f.type) for f in _schema(table)} for table in backup_q.exported_tables()
    }
    unknown = set(manifest.tables) - set(expected)
    if unknown:
        raise BackupError(f"the archive has unknown tables {sorted(unknown)}")
    # an archive of an earlier schema lacks what later upgrades added (tables, nullable columns:
    # db.engine.UPGRADES); restored, those are empty or NULL, as an upgrade leaves them
    earlier = manifest.schema_version < latest
    for name, columns in expected.items():
        entry = manifest.tables.get(name)
        if entry is None and earlier:
            continue
        if entry is None or not (
            entry.columns == columns or (earlier and entry.columns.items() <= columns.items())
        ):
            raise BackupError(
                f"table {name!r} in the archive does not match this product's columns"
            )
    for name in manifest.files:
        if (
            not _SAFE_MEMBER.fullmatch(name)
            or ".." in name.split("/")
            or not name.startswith(f"{DATA_DIR}/")
        ):
            raise BackupError(f"the archive names an unsafe path {name!r}")
    return manifest


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    """A reader of one regular-file member (links and devices are refused)."""
    try:
        member = tar.getmember(name)
    except KeyError as e:
        raise BackupError(f"the archive has no {name}") from e
    if not member.isfile():
        raise BackupError(f"{name} in the archive is not a regular file")
    handle = tar.extractfile(member)
    if handle is None:
        raise BackupError(f"{name} in the archive cannot be read")
    return handle


def _read_member(tar: tarfile.TarFile, name: str) -> bytes:
    with _member(tar, name) as handle:
        return handle.read()


def _extract_checked(tar: tarfile.TarFile, name: str, digest: str, staging: Path) -> None:
    """Copy one member to ``staging/name`` (never through tar's own path handling) and check it."""
    if not _SAFE_MEMBER.fullmatch(name) or ".." in name.split("/"):
        raise BackupError(f"the archive names an unsafe path {name!r}")
    target = staging / name
    target.parent.mkdir(parents=True, exist_ok=True)
    copied = hashlib.sha256()
    with _member(tar, name) as source, target.open("wb") as out:
        while chunk := source.read(1 << 20):
            copied.update(chunk)
            out.write(chunk)
    if copied.hexdigest() != digest:
        raise BackupError(
            f"{name} in the archive does not match its checksum; the archive is damaged"
        )


def _check_empty(db: Database) -> None:
    with db.session() as session:
        used = backup_q.count_rows(session)
    if used:
        summary = ", ".join(f"{name} ({n})" for name, n in sorted(used.items()))
        raise RestoreTargetNotEmptyError(
            f"the target database is not empty: {summary}; restore only into a new, empty database"
        )


def _insert_tables(db: Database, manifest: Manifest, staging: Path) -> dict[str, int]:
    """Every table's rows in one transaction, then sequences past the restored ids."""
    counts: dict[str, int] = {}
    with db.session() as session:
        for table in backup_q.exported_tables():
            entry = manifest.tables.get(table)
            if entry is None:  # added after the archive's schema version
                counts[table] = 0
                continue
            rows = 0
            for batch in pq.ParquetFile(staging / entry.file).iter_batches(batch_size=BATCH_ROWS):
                values = batch.to_pylist()
                backup_q.insert_rows(session, table=table, rows=values)
                rows += len(values)
            if rows != entry.rows:
                raise BackupError(
                    f"table {table}: the archive holds {rows} rows, its manifest says {entry.rows}"
                )
            counts[table] = rows
            backup_q.advance_sequences(session, table=table, duckdb=db.is_duckdb)
    return counts


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())
