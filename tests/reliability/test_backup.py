"""`tagger backup` then `tagger restore` into a new database gives back every row of every table
and the models (the restored active model predicts the same); restore refuses a non-empty target,
a damaged archive, and archive paths that leave the data folder."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select
from sqlmodel import SQLModel
from typer.testing import CliRunner

from core import auth, backup, priority_rules
from core import review as review_rules
from core.config import Settings, get_settings
from core.lifecycle import registry
from db.engine import Database, init_db
from db.queries import audit as audit_q
from db.queries import backup as backup_queries
from db.queries import embeddings as embeddings_q
from db.queries import jobs as jobs_q
from db.queries import labels as labels_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import (
    ApiToken,
    AuditAction,
    LeadReview,
    OverlapAnswer,
    QualitySettings,
    RetrainPolicy,
    ReviewPriority,
    ReviewTargets,
    Role,
    Video,
    VideoStatus,
    WebhookDelivery,
    WebhookSubscriber,
)
from tests.support.preloaded import PreloadedPython

HOSTILE_TITLE = "<script>alert(1)</script> '; DROP TABLE video; -- Кириллица 中文 🎬 \x01\x1b"


def _populate(db: Database, settings: Settings, taxonomy) -> np.ndarray:
    """Something in every table; returns the embedding matrix the model predicts on."""
    admin = auth.create_user(db, username="boss", password="correct horse battery", role=Role.ADMIN)
    mod = auth.create_user(db, username="mod", password="correct horse battery")
    auth.authenticate(db, "mod", "correct horse battery")
    with pytest.raises(auth.InvalidCredentialsError):
        auth.authenticate(db, "mod", "wrong")
    leaves = [
        taxonomy.find(p).id
        for p in ("Sports: Soccer", "Sports: Tennis", "Music: Rock", "Music: Jazz")
    ]
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 8)).astype(np.float32)
    with db.session() as session:
        ids = []
        for i in range(16):
            video = videos_q.create_video(
                session,
                title=f"{HOSTILE_TITLE} {i}",
                description="d" * (i * 100),
                external_id=f"ext-{i}",
                status=VideoStatus.READY,
            )
            embeddings_q.put_embeddings(
                session,
                records=[
                    embeddings_q.EmbeddingRecord(
                        video.id, "title", "fake", "v1", f"h{i}", X[i] + (i % 4)
                    )
                ],
            )
            videos_q.put_transcript(
                session,
                video_id=video.id,
                source="whisper",
                text=f"words {i}",
                segments=[{"start": 0.0, "end": 1.5, "text": f"words {i}"}],
            )
            videos_q.replace_keyframes(
                session, video_id=video.id, frames=[(0.5, f"thumbnails/x/{i}.jpg")]
            )
            videos_q.put_onscreen_text(
                session,
                video_id=video.id,
                languages="eng+rus",
                text=f"СЧЁТ {i}",
                segments=[{"start": 0.5, "end": 0.5, "text": f"СЧЁТ {i}"}],
            )
            ids.append(video.id)
        labels_q.import_labels(session, labels=[(v, leaves[i % 4]) for i, v in enumerate(ids)])
        jobs_q.create_job(session, kind="train", params={"activate": True})
    with db.session() as session:
        review_rules.save_review(
            session, video_id=ids[0], expected_version=0, node_ids=[leaves[1]], user=mod
        )
    from core.lifecycle import prediction, training

    training.train_model(
        db,
        settings=settings,
        user=admin,
        activate=True,
        encoder_key=("fake", "v1"),
        params={
            "n_ensemble": 1,
            "max_epochs": 3,
            "d_model": 8,
            "n_heads": 2,
            "n_layers": 1,
            "mlp_width": 16,
            "batch_size": 8,
        },
    )
    second = training.train_model(
        db,
        settings=settings,
        user=admin,
        activate=False,
        encoder_key=("fake", "v1"),
        params={
            "n_ensemble": 1,
            "max_epochs": 2,
            "d_model": 8,
            "n_heads": 2,
            "n_layers": 1,
            "mlp_width": 16,
            "batch_size": 8,
        },
    )
    registry.promote(db, second.id, admin, settings=settings)
    prediction.predict_videos(db, settings=settings)
    with db.session() as session:  # a rule, and the priorities it raises on the videos
        priority_rules.add_rule(
            session, tag=leaves[0], min_probability=0.01, level=ReviewPriority.HIGH, user=admin
        )
    _populate_schema_v2_tables(db, admin_id=admin.id, moderator_id=mod.id)
    return X


def _populate_schema_v2_tables(db: Database, *, admin_id: int, moderator_id: int) -> None:
    """One row in each table of the HTTP API and of label quality (schema v2)."""
    with db.session() as session:
        video_id = session.exec(select(Video.id).order_by(Video.id)).first()[0]
        subscriber = WebhookSubscriber(url="https://platform.example/hooks", secret="s" * 32)
        session.add(subscriber)
        session.flush()
        session.add_all(
            [
                ApiToken(
                    name="uploader",
                    user_id=admin_id,
                    scope="write",
                    token_hash="h" * 64,
                    prefix="tgr_abc",
                ),
                WebhookDelivery(
                    subscriber_id=subscriber.id, event="video.reviewed", video_id=video_id
                ),
                QualitySettings(overlap_share=0.1, overlap_moderators=2, updated_by=admin_id),
                OverlapAnswer(video_id=video_id, user_id=moderator_id, node_ids_json="[]"),
                LeadReview(
                    video_id=video_id,
                    moderator_id=moderator_id,
                    lead_id=admin_id,
                    verdict="accepted",
                ),
                RetrainPolicy(mode="after_labels", after_labels=50, updated_by=admin_id),
                ReviewTargets(urgent_minutes=15, high_minutes=120, updated_by=admin_id),
            ]
        )


def _rows(db: Database) -> dict[str, list[dict]]:
    tables = {}
    with db.session() as session:
        connection = session.connection()
        for table in SQLModel.metadata.sorted_tables:
            if table.name == "schema_info":
                continue
            rows = connection.execute(select(table).order_by(*table.primary_key.columns))
            tables[table.name] = [dict(row._mapping) for row in rows]
    return tables


def _use_data_dir(monkeypatch, path: Path) -> Settings:
    monkeypatch.setenv("TAGGER_DATA_DIR", str(path))
    get_settings.cache_clear()
    return get_settings()


def test_backup_then_restore_gives_back_everything(
    db, settings, taxonomy, tmp_path, monkeypatch, tally
):
    from scripts.cli import app

    X = _populate(db, settings, taxonomy)
    before = _rows(db)
    assert all(before[name] for name in before), [
        n for n in before if not before[n]
    ]  # every table used
    active_before = registry.load_active_model(db, settings=settings)
    archive = tmp_path / "backups" / "tagger.tar"
    runner = CliRunner()

    made = runner.invoke(app, ["backup", str(archive)])
    assert made.exit_code == 0, made.output
    again = runner.invoke(app, ["backup", str(archive)])
    assert again.exit_code == 1 and "already exists" in again.output  # never replaces a backup

    restored_settings = _use_data_dir(monkeypatch, tmp_path / "restored")
    done = runner.invoke(app, ["restore", str(archive)])
    assert done.exit_code == 0, done.output
    restored = Database(restored_settings.resolved_database_url)
    init_db(restored)

    after = _rows(restored)
    assert after.keys() == before.keys()
    for name in before:
        assert after[name] == before[name], f"table {name} differs after restore"
    tally["rows compared after restore"] += sum(len(rows) for rows in before.values())
    registry._cache.clear()
    active_after = registry.load_active_model(restored, settings=restored_settings)
    assert active_after.version_id == active_before.version_id
    np.testing.assert_array_equal(
        active_after.classifier.predict_proba({"title": X}),
        active_before.classifier.predict_proba({"title": X}),
    )
    with restored.session() as session:  # new rows do not collide with restored ids
        fresh = videos_q.create_video(session, title="after restore")
        assert fresh.id > max(row["id"] for row in before["video"])
        entry = audit_q.add_audit(session, action=AuditAction.IMPORT)
        assert entry.id > max(row["id"] for row in before["audit_log"])
    assert auth.authenticate(restored, "mod", "correct horse battery", settings=restored_settings)

    refused = runner.invoke(app, ["restore", str(archive)])  # the target is not empty any more
    assert refused.exit_code == 1 and "not empty" in refused.output
    restored.dispose()


def _archive(db, settings, taxonomy, tmp_path) -> Path:
    with db.session() as session:
        videos_q.create_video(session, title=HOSTILE_TITLE)
    return backup.create_backup(db, tmp_path / "b.tar", settings=settings).path


def _rewrite(archive: Path, out: Path, change) -> Path:
    """A copy of ``archive`` with ``change(name, data) -> (name, data) | None`` applied per
    member."""
    with tarfile.open(archive) as source, tarfile.open(out, "w") as target:
        for member in source.getmembers():
            changed = change(member.name, source.extractfile(member).read())
            if changed is None:
                continue
            name, data = changed
            info = tarfile.TarInfo(name)
            info.size = len(data)
            target.addfile(info, io.BytesIO(data))
    return out


def _refused_restore(
    archive: Path, monkeypatch, data_dir: Path, *, match: str
) -> dict[str, list[dict]]:
    """Restore ``archive`` into a new, empty data folder, expecting a BackupError matching
    ``match``; returns the rows the refused restore left in that database."""
    target = _use_data_dir(monkeypatch, data_dir)
    empty = Database(target.resolved_database_url)
    try:
        with pytest.raises(backup.BackupError, match=match):
            backup.restore_backup(empty, archive, settings=target)
        return _rows(empty)
    finally:
        empty.dispose()


def test_a_damaged_archive_restores_nothing(db, settings, taxonomy, tmp_path, monkeypatch):
    archive = _archive(db, settings, taxonomy, tmp_path)

    def flip(name: str, data: bytes):
        if name.endswith("video.parquet"):
            data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
        return name, data

    damaged = _rewrite(archive, tmp_path / "damaged.tar", flip)
    left = _refused_restore(damaged, monkeypatch, tmp_path / "target", match="checksum")
    assert all(not rows for rows in left.values())


@pytest.mark.parametrize(
    "evil", ["data/../../evil.txt", "/etc/evil", "data/models/v1/../../../../evil"]
)
def test_archive_paths_cannot_leave_the_data_folder(
    db, settings, taxonomy, tmp_path, monkeypatch, evil
):
    archive = _archive(db, settings, taxonomy, tmp_path)

    def smuggle(name: str, data: bytes):
        if name == backup.MANIFEST_FILE:
            manifest = json.loads(data)
            manifest["files"][evil] = "0" * 64
            data = json.dumps(manifest).encode()
        return name, data

    hostile = _rewrite(archive, tmp_path / "hostile.tar", smuggle)
    _refused_restore(hostile, monkeypatch, tmp_path / "target", match="unsafe path")
    assert not (tmp_path / "evil.txt").exists() and not Path("/etc/evil").exists()


def _as_written_by_schema_7(archive: Path, out: Path) -> Path:
    """``archive`` as the product at schema version 7 wrote it: ``app_user`` without the
    ``languages`` column (its Parquet file rewritten, checksum updated) and the manifest's
    version 7. A schema-7 product had every table this one has."""
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile(backup.MANIFEST_FILE).read())
        entry = manifest["tables"]["app_user"]
        table = pq.read_table(io.BytesIO(tar.extractfile(entry["file"]).read()))
    buffer = io.BytesIO()
    pq.write_table(table.drop_columns(["languages"]), buffer)
    users_file = buffer.getvalue()
    del entry["columns"]["languages"]
    entry["sha256"] = hashlib.sha256(users_file).hexdigest()
    manifest["schema_version"] = 7

    def older(name: str, data: bytes):
        if name == backup.MANIFEST_FILE:
            return name, json.dumps(manifest).encode()
        if name == entry["file"]:
            return name, users_file
        return name, data

    return _rewrite(archive, out, older)


def test_an_archive_of_an_earlier_schema_restores_as_an_upgrade_would_leave_it(
    db, settings, taxonomy, tmp_path, monkeypatch
):
    """A backup taken before an upgrade (schema 7: no account languages) restores into today's
    schema: the column it lacked is NULL, every row is back; a newer archive is refused."""
    auth.create_user(db, username="ann", password="correct horse battery", languages=["de"])
    archive = _archive(db, settings, taxonomy, tmp_path)
    old = _as_written_by_schema_7(archive, tmp_path / "v7.tar")
    target = _use_data_dir(monkeypatch, tmp_path / "restored")
    restored = Database(target.resolved_database_url)
    try:
        report = backup.restore_backup(restored, old, settings=target)
        assert report.schema_version == 7 and report.rows["app_user"] == 1
        with restored.session() as session:
            [ann] = users_q.list_accounts(session)
            titles = [v.title for v in videos_q.list_videos(session)]
        assert (ann.username, ann.languages) == ("ann", ())  # the schema-7 row had none
        assert titles == [HOSTILE_TITLE]
        assert auth.authenticate(restored, "ann", "correct horse battery", settings=target)
    finally:
        restored.dispose()

    def newer(name: str, data: bytes):
        if name == backup.MANIFEST_FILE:
            manifest = json.loads(data)
            manifest["schema_version"] += 1
            data = json.dumps(manifest).encode()
        return name, data

    future = _rewrite(archive, tmp_path / "future.tar", newer)
    _refused_restore(future, monkeypatch, tmp_path / "t2", match="the product version that wrote")


def test_restore_refuses_a_database_in_use(db, settings, taxonomy, tmp_path):
    archive = _archive(db, settings, taxonomy, tmp_path)
    with pytest.raises(backup.RestoreTargetNotEmptyError, match="not empty"):
        backup.restore_backup(db, archive, settings=settings)
    with db.session() as session:
        assert videos_q.count_videos(session) == 1  # untouched


def test_every_column_type_is_mapped():
    """A new column type must get an exact Arrow type before backups can run."""
    for table in backup_queries.exported_tables():
        backup._schema(table)
    assert set(backup_queries.exported_tables()) == set(SQLModel.metadata.tables) - {"schema_info"}


@pytest.mark.slow
@pytest.mark.postgres
def test_duckdb_backup_restores_into_postgresql_and_back(
    db, settings, taxonomy, tmp_path, new_postgres_db, tally
):
    """The archive is backend-neutral: DuckDB -> PostgreSQL -> DuckDB keeps every row."""
    X = _populate(db, settings, taxonomy)
    before = _rows(db)
    first = backup.create_backup(db, tmp_path / "duck.tar", settings=settings).path

    pg_settings = Settings(data_dir=tmp_path / "pg-data", database_url=new_postgres_db())
    pg = Database(pg_settings.resolved_database_url)
    backup.restore_backup(pg, first, settings=pg_settings)
    assert _rows(pg) == before
    registry._cache.clear()
    on_pg = registry.load_active_model(pg, settings=pg_settings)
    with pg.session() as session:  # PostgreSQL sequences continue after the restored ids
        assert videos_q.create_video(session, title="new").id > max(
            row["id"] for row in before["video"]
        )
        session.rollback()
    second = backup.create_backup(pg, tmp_path / "pg.tar", settings=pg_settings).path

    duck_settings = Settings(data_dir=tmp_path / "duck-again")
    duck = Database(duck_settings.resolved_database_url)
    backup.restore_backup(duck, second, settings=duck_settings)
    assert _rows(duck) == before
    registry._cache.clear()
    back = registry.load_active_model(duck, settings=duck_settings)
    np.testing.assert_array_equal(
        back.classifier.predict_proba({"title": X}), on_pg.classifier.predict_proba({"title": X})
    )
    tally["rows compared after restore"] += 2 * sum(len(rows) for rows in before.values())
    pg.dispose()
    duck.dispose()


@pytest.fixture
def restorer_python() -> Iterator[PreloadedPython]:
    """Each :data:`_RESTORER` run forks from one process that has made its imports (a second of
    CPU per start otherwise); the kills and what they hit are the same."""
    with PreloadedPython(["core.backup"]) as python:
        yield python


_RESTORER = """
import sys
from pathlib import Path
from core import backup
from core.config import get_settings
from db.engine import Database, init_db
settings = get_settings()
db = Database(settings.resolved_database_url)
init_db(db)
print("START", flush=True)
if sys.argv[1] == "restore":
    backup.restore_backup(db, Path(sys.argv[2]), settings=settings)
else:
    backup.create_backup(db, Path(sys.argv[2]), settings=settings)
print("DONE", flush=True)
"""


def _bulk(db: Database, settings: Settings, taxonomy, n: int = 3000) -> None:
    _populate(db, settings, taxonomy)
    rng = np.random.default_rng(1)
    with db.session() as session:
        videos_q.insert_synthetic_videos(session, n=n, prefix="bulk-")
    with db.session() as session:
        ids = videos_q.list_video_ids(session)[-n:]
        embeddings_q.put_embeddings(
            session,
            records=[
                embeddings_q.EmbeddingRecord(
                    v, "title", "fake", "v2", f"b{v}", rng.standard_normal(8).astype(np.float32)
                )
                for v in ids
            ],
        )
        labels_q.import_labels(session, labels=[(v, taxonomy.find("Music").id) for v in ids])


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_kill_during_backup_and_restore_never_leaves_half_a_copy(
    db, settings, taxonomy, tmp_path, restorer_python, tally
):
    """kill -9 at random points of `backup` and `restore`: the archive is absent or complete; the
    restored database is empty or complete; running restore again finishes the job."""
    import os
    import random
    import signal
    import time

    _bulk(db, settings, taxonomy)
    source_rows = _rows(db)
    script = tmp_path / "restorer.py"
    script.write_text(_RESTORER)
    rng = random.Random(5)
    kills = 0

    def run(
        mode: str, archive: Path, data_dir: Path, kill_after: float | None
    ) -> tuple[bool, float]:
        """(killed before DONE, seconds from START to the end)."""
        env = {**os.environ, "TAGGER_DATA_DIR": str(data_dir)}
        child = restorer_python.start([str(script), mode, str(archive)], env)
        assert child.stdout.readline() == "START\n", (child.wait(timeout=60), child.stderr.read())
        started = time.monotonic()
        if kill_after is None:
            done = child.stdout.readline()
            seconds = time.monotonic() - started
            child.wait(timeout=300)
            assert child.returncode == 0 and done == "DONE\n", child.stderr.read()
            return False, seconds
        time.sleep(kill_after)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        return "DONE" not in child.stdout.read(), time.monotonic() - started

    archive = tmp_path / "out" / "full.tar"
    _, backup_s = run("backup", archive, settings.data_dir, None)
    _, restore_s = run("restore", archive, tmp_path / "scratch", None)  # how long each takes here
    for attempt in range(3):  # backup killed part-way: no archive, or a complete one
        target = tmp_path / "out" / f"killed{attempt}.tar"
        kills += run("backup", target, settings.data_dir, backup_s * rng.uniform(0.02, 0.5))[0]
        if target.exists():
            backup.read_manifest(target)

    restored_dir = tmp_path / "restored"
    restored_settings = Settings(data_dir=restored_dir)
    for attempt in range(3):
        killed, _ = run("restore", archive, restored_dir, restore_s * rng.uniform(0.1, 0.9))
        kills += killed
        restored = Database(restored_settings.resolved_database_url)
        init_db(restored)
        rows = _rows(restored)
        restored.dispose()
        if all(not r for r in rows.values()):
            continue  # nothing committed: try again
        assert rows == source_rows  # never half a restore
        break
    else:
        run(
            "restore", archive, restored_dir, None
        )  # the retry completes next to the files left behind
    restored = Database(restored_settings.resolved_database_url)
    assert _rows(restored) == source_rows
    restored.dispose()
    tally["faults injected (kill -9)"] += kills
    tally["rows compared after restore"] += sum(len(r) for r in source_rows.values())
