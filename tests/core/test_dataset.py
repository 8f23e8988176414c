"""Dataset import (CSV/JSON/JSONL) and export (CSV/JSONL/Parquet) of effective labels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlmodel import select

from core import dataset
from core import review as review_rules
from core.dataset import DatasetError, DatasetImportError
from core.taxonomy import from_paths, load_from_db, save_to_db
from db.engine import Database, init_db
from db.queries import audit, users, videos
from db.tables import AuditAction, Label, Video

TAGS = [
    ["Sports", "Soccer"],
    ["Sports", "Golf"],
    ["Health", "Ear, Nose and Throat Conditions"],
    ["Новости", "Политика"],
]


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(f"duckdb:///{tmp_path / 'ds.duckdb'}")
    init_db(database)
    with database.session() as session:
        save_to_db(session, from_paths(TAGS))
    return database


def _write_csv(
    path: Path, rows: list[list[str]], header=("video_id", "title", "description", "tags")
) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _snapshot(db: Database) -> tuple:
    with db.session() as session:
        vids = sorted((v.external_id, v.title) for v in session.exec(select(Video)))
        labs = sorted((l.video_id, l.node_id, l.source) for l in session.exec(select(Label)))
    return vids, labs


ROWS = [
    ["v1", "Goal", "A match, with goals", "Sports: Soccer, Sports: Golf"],
    ["v2", "ENT", "Doctor", "Health: Ear, Nose and Throat Conditions, Sports"],
    ["v3", "Новости дня", "Описание", "новости: политика"],
    ["v4", "None", "no tags", ""],
]


def test_import_creates_videos_and_labels(db: Database, tmp_path: Path) -> None:
    report = dataset.import_dataset(db, _write_csv(tmp_path / "d.csv", ROWS))
    assert (report.rows, report.videos_created, report.labels_added, report.problems) == (
        4,
        4,
        5,
        [],
    )
    with db.session() as session:
        tax = load_from_db(session)
        by_ext = videos.find_videos_by_external_ids(session, external_ids=["v1", "v2", "v3", "v4"])
        eff = review_rules.effective_labels(session)
        assert by_ext["v3"].title == "Новости дня" and by_ext["v1"].status == "new"
        assert eff[by_ext["v2"].id] == sorted(
            [tax.resolve("Health: Ear, Nose and Throat Conditions").id, tax.resolve("Sports").id]
        )
        assert by_ext["v4"].id not in eff
        assert len(audit.list_audit(session, action=AuditAction.IMPORT)) == 1


def test_reimport_is_harmless(db: Database, tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "d.csv", ROWS)
    dataset.import_dataset(db, path)
    before = _snapshot(db)
    report = dataset.import_dataset(db, path)
    assert (report.videos_created, report.videos_existing, report.labels_added) == (0, 4, 0)
    assert _snapshot(db) == before


def test_unknown_tags_reported_with_rows_known_ones_kept(db: Database, tmp_path: Path) -> None:
    rows = [["a", "t", "d", "Sports: Socer, Sports: Golf"], ["b", "t", "d", "Cooking"]]
    report = dataset.import_dataset(db, _write_csv(tmp_path / "d.csv", rows))
    assert [(p.row, p.video_id) for p in report.problems] == [(2, "a"), (3, "b")]
    assert "Sports: Socer" in report.problems[0].message
    assert report.videos_created == 2 and report.labels_added == 1


def test_holdout_is_deterministic_and_unlabelled(db: Database, tmp_path: Path) -> None:
    rows = [[f"id{i}", "t", "d", "Sports: Soccer"] for i in range(200)]
    path = _write_csv(tmp_path / "d.csv", rows)
    report = dataset.import_dataset(db, path, holdout_fraction=0.3, seed=7)
    assert 30 < len(report.held_out) < 90
    assert report.held_out == [
        r[0] for r in rows if dataset.is_held_out(r[0], fraction=0.3, seed=7)
    ]
    assert report.labels_added == 200 - len(report.held_out)
    with db.session() as session:
        held = videos.find_videos_by_external_ids(session, external_ids=report.held_out)
        assert not {v.id for v in held.values()} & set(review_rules.effective_labels(session))
    with pytest.raises(ValueError, match="holdout"):
        dataset.import_dataset(db, path, holdout_fraction=1.0)


def test_video_files_are_matched(db: Database, tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "v1.mp4").write_bytes(b"x")
    (media / "v1.srt").write_text("subtitles are not videos")
    (media / "v2.MKV").write_bytes(b"y")
    report = dataset.import_dataset(db, _write_csv(tmp_path / "d.csv", ROWS[:3]), videos_dir=media)
    assert report.files_matched == 2
    assert [(p.video_id, "no video file" in p.message) for p in report.problems] == [("v3", True)]
    with db.session() as session:
        v1 = videos.find_video_by_external_id(session, external_id="v1")
        assert Path(v1.stored_path) == (media / "v1.mp4").resolve() and v1.original_name == "v1.mp4"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("video_id,title,tags\nv1,t,Sports\n", r"row 1: missing column\(s\) \['description'\]"),
        (
            "video_id,title,description,tags\nv1,t,d,Sports\nv1,t2,d,Sports\n",
            "row 3: duplicate video_id 'v1'",
        ),
        (
            "video_id,title,description,tags\nv1,t,d,Sports,extra\n",
            "row 2: expected 4 fields, found 5",
        ),
        (
            'video_id,title,description,tags\nv0,t,d,Sports\nv1,"t,d,Sports\n',
            "row 3: malformed CSV",
        ),
        ("video_id,title,description,tags\n,t,d,Sports\n", "row 2: empty video_id"),
    ],
)
def test_bad_files_name_the_row_and_change_nothing(
    db: Database, tmp_path: Path, content: str, message: str
) -> None:
    dataset.import_dataset(db, _write_csv(tmp_path / "ok.csv", ROWS[:1]))
    before = _snapshot(db)
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        dataset.import_dataset(db, path)
    assert _snapshot(db) == before


def test_failure_midway_rolls_back_committed_batches(
    db: Database, tmp_path: Path, monkeypatch
) -> None:
    dataset.import_dataset(
        db, _write_csv(tmp_path / "first.csv", [["old", "t", "d", "Sports: Golf"]])
    )
    before = _snapshot(db)
    rows = [["old", "t", "d", "Sports: Soccer"]] + [
        [f"n{i}", "t", "d", "Sports: Soccer"] for i in range(25)
    ]
    path = _write_csv(tmp_path / "d.csv", rows)
    real = dataset._write_batch
    calls = []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(dataset, "_write_batch", flaky)
    with pytest.raises(DatasetImportError, match="rolled back"):
        dataset.import_dataset(db, path, batch_size=10)
    assert _snapshot(db) == before


def test_json_and_jsonl_import(db: Database, tmp_path: Path) -> None:
    items = [
        {
            "video_id": "j1",
            "title": "t",
            "description": "d",
            "tags": ["Sports: Soccer", "Health: Ear, Nose and Throat Conditions"],
        },
        {"video_id": 2, "title": "t", "description": None, "tags": "Sports: Golf"},
    ]
    (tmp_path / "d.json").write_text(json.dumps(items), encoding="utf-8")
    assert dataset.import_dataset(db, tmp_path / "d.json").labels_added == 3
    (tmp_path / "d.jsonl").write_text(
        "\n".join(json.dumps({**i, "video_id": f"l{n}"}) for n, i in enumerate(items))
    )
    assert dataset.import_dataset(db, tmp_path / "d.jsonl").videos_created == 2
    (tmp_path / "bad.json").write_text('[{"video_id": "x", "title": "t"}]')
    with pytest.raises(DatasetError, match="row 2: missing field"):
        dataset.read_dataset(tmp_path / "bad.json")


def test_export_round_trips_and_prefers_human_labels(db: Database, tmp_path: Path) -> None:
    dataset.import_dataset(db, _write_csv(tmp_path / "d.csv", ROWS))
    with db.session() as session:
        tax = load_from_db(session)
        reviewer = users.create_user(session, username="r", password_hash="x")
        v1 = videos.find_video_by_external_id(session, external_id="v1")
        review_rules.save_review(
            session,
            video_id=v1.id,
            expected_version=0,
            node_ids=[tax.resolve("Новости: Политика").id],
            user=reviewer,
        )
    out_csv = tmp_path / "out.csv"
    assert dataset.export_labels(db, out_csv) == 4
    exported = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert exported[0]["tags"] == "Новости: Политика"
    assert exported[1]["tags"] == "Sports, Health: Ear, Nose and Throat Conditions"

    other = Database(f"duckdb:///{tmp_path / 'other.duckdb'}")
    init_db(other)
    with other.session() as session:
        save_to_db(session, from_paths(TAGS))
    dataset.import_dataset(other, out_csv)
    dataset.export_labels(other, tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_text(encoding="utf-8") == out_csv.read_text(
        encoding="utf-8"
    )

    dataset.export_labels(db, tmp_path / "out.jsonl")
    lines = [
        json.loads(l) for l in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert lines[0]["reviewed"] is True and lines[0]["tags"] == ["Новости: Политика"]
    dataset.export_labels(db, tmp_path / "out.bin", fmt="parquet")
    table = pq.read_table(tmp_path / "out.bin").to_pylist()
    assert [r["video_id"] for r in table] == ["v1", "v2", "v3", "v4"]
    assert (
        table[1]["tags"] == ["Sports", "Health: Ear, Nose and Throat Conditions"]
        and table[3]["tags"] == []
    )
    with pytest.raises(ValueError, match="unknown export format"):
        dataset.export_labels(db, tmp_path / "out.xml")


def test_description_over_csv_default_field_limit_round_trips(db: Database, tmp_path: Path) -> None:
    """csv's default field limit is 128 KiB; what `export_labels` writes must import again."""
    description = ('Ünïcödé, "quoted" text\nover lines; ' * 40_000)[: 1 << 20].strip()
    dataset.import_dataset(
        db, _write_csv(tmp_path / "d.csv", [["big", "t", description, "Sports: Golf"]])
    )
    out_csv = tmp_path / "out.csv"
    dataset.export_labels(db, out_csv)
    [row] = dataset.read_dataset(out_csv)
    assert (row.video_id, row.description, row.tags) == ("big", description, ("Sports: Golf",))


def test_csv_field_over_the_cap_is_a_row_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The raised limit is still bounded, so a hostile file cannot grow one field without end."""
    previous = csv.field_size_limit(1000)
    try:
        monkeypatch.setattr(dataset, "MAX_CSV_FIELD_CHARS", 2000)
        path = _write_csv(
            tmp_path / "d.csv", [["v1", "t", "x" * 1500, ""], ["v2", "t", "x" * 2500, ""]]
        )
        with pytest.raises(
            DatasetError, match=r"row 3: malformed CSV: field larger than field limit \(2000\)"
        ):
            dataset.read_dataset(path)
    finally:
        csv.field_size_limit(previous)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("field", ["video_id", "title", "description", "tags"])
def test_nul_is_refused_naming_row_and_field(
    db: Database, tmp_path: Path, suffix: str, field: str
) -> None:
    """PostgreSQL cannot store NUL in text, so every backend refuses it before writing anything."""
    good = {"video_id": "v1", "title": "t", "description": "d", "tags": "Sports: Golf"}
    bad = {
        "video_id": "v2",
        "title": "t",
        "description": "d",
        "tags": "Sports: Soccer",
        field: "a\x00b",
    }
    path = tmp_path / f"nul{suffix}"
    if suffix == ".csv":
        _write_csv(path, [list(good.values()), list(bad.values())])
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in (good, bad)), encoding="utf-8")
    before = _snapshot(db)
    with pytest.raises(DatasetError) as caught:
        dataset.import_dataset(db, path)
    assert str(caught.value) == f"{path} row 3: {field} contains a NUL character (\\x00)"
    assert _snapshot(db) == before


def test_nul_in_a_json_tag_list_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(
        json.dumps(
            [{"video_id": "v1", "title": "t", "description": "", "tags": ["Sports", "Go\x00lf"]}]
        )
    )
    with pytest.raises(DatasetError, match=r"row 2: tags contains a NUL character \(\\x00\)"):
        dataset.read_dataset(path)


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-16", "utf-8-sig"])
def test_csv_in_a_legacy_encoding_is_stored_as_utf8(
    db: Database, tmp_path: Path, encoding: str
) -> None:
    text = (
        "video_id,title,description,tags\n"
        "r1,Футбол сегодня,Обзор матча и голы,Новости: Политика\n"
        "r2,Вечерние новости,Главное за день,Sports: Soccer\n"
    )
    path = tmp_path / "ru.csv"
    path.write_bytes(text.encode(encoding))
    report = dataset.import_dataset(db, path)
    assert report.encoding == encoding and report.problems == []
    with db.session() as session:
        by_ext = videos.find_videos_by_external_ids(session, external_ids=["r1", "r2"])
        assert by_ext["r1"].title == "Футбол сегодня"
        assert by_ext["r2"].description == "Главное за день"
        [entry] = audit.list_audit(session, action=AuditAction.IMPORT)
        assert json.loads(entry.detail_json)["encoding"] == encoding
