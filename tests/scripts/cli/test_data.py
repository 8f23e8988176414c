"""`tagger` data commands: help, init, taxonomy, import/export, users, one-line failures."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from core import auth
from core.config import Settings, get_settings
from db.engine import get_database
from db.queries import audit, users, videos
from db.queries import taxonomy as taxonomy_queries
from db.tables import Video, utcnow
from scripts.cli import app

runner = CliRunner()


def _run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


def _one_line_error(result) -> str:
    lines = [l for l in result.output.splitlines() if l.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for command in (
        "init",
        "import-taxonomy",
        "import",
        "export",
        "remove",
        "expire-media",
        "priority",
        "priority-rules",
        "review-targets",
        "users",
        "serve",
    ):
        assert command in result.output
    for sub in (
        ["import", "--help"],
        ["users", "add", "--help"],
        ["export", "--help"],
        ["serve", "--help"],
    ):
        assert _run(*sub).exit_code == 0


def test_init_is_idempotent_and_loads_iab(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    result = _run("init")
    assert result.exit_code == 0 and "704 tags" in result.output
    assert settings.media_dir.is_dir() and settings.models_dir.is_dir()


def test_import_export_round_trip(settings: Settings, tmp_path: Path) -> None:
    assert _run("init").exit_code == 0
    dataset = tmp_path / "d.csv"
    with dataset.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["video_id", "title", "description", "tags"])
        w.writerow(["a", "Goal", "match", "Sports: Soccer"])
        w.writerow(["b", "Oops", "x", "Sports: Socer"])
    result = _run("import", str(dataset))
    assert result.exit_code == 0, result.output
    assert (
        "2 videos created" in result.output
        and "row 3" in result.output
        and "Sports: Soccer" in result.output
    )
    assert _run("import", str(dataset), "--strict").exit_code == 1
    out = tmp_path / "out.jsonl"
    result = _run("export", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(l) for l in out.read_text(encoding="utf-8").splitlines()]
    assert [(l["video_id"], l["tags"]) for l in lines] == [("a", ["Sports: Soccer"]), ("b", [])]
    assert _run("export", str(tmp_path / "o.parquet")).exit_code == 0
    with get_database().session() as session:
        assert videos.count_videos(session) == 2


def test_import_taxonomy_csv(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "tax.csv"
    path.write_text("Level 1,Level 2\nСпорт,Футбол\nНовости,\n", encoding="utf-8")
    result = _run("import-taxonomy", str(path))
    assert result.exit_code == 0, result.output
    with get_database().session() as session:
        assert taxonomy_queries.count_nodes(session) == 3
    assert _run("import-taxonomy", "--format", "iab3").exit_code == 0


def test_users_add_and_list(settings: Settings) -> None:
    result = _run(
        "users", "add", "ann", "--role", "admin", "--password-stdin", input="long enough pw\n"
    )
    assert result.exit_code == 0, result.output
    assert "long enough pw" not in result.output
    result = _run("users", "add", "bob", input="another password\nanother password\n")
    assert result.exit_code == 0, result.output
    listing = _run("users", "list")
    assert "ann" in listing.output and "admin" in listing.output and "bob" in listing.output
    with get_database().session() as session:
        assert users.get_user_by_name(session, username="bob").role == "moderator"
    assert _run("users", "disable", "bob").exit_code == 0
    with get_database().session() as session:
        assert users.get_user_by_name(session, username="bob").disabled
        assert [e.detail_json for e in audit.list_audit(session, action="user_disabled")]


def test_users_set_role_enable_and_last_sign_in(settings: Settings) -> None:
    _run("users", "add", "ann", "--role", "admin", "--password-stdin", input="long enough pw\n")
    _run("users", "add", "bob", "--password-stdin", input="another password\n")
    auth.authenticate(get_database(), "bob", "another password", settings=settings)
    result = _run("users", "set-role", "bob", "lead")
    assert result.exit_code == 0 and "'bob' is now lead" in result.output, result.output
    assert _run("users", "set-role", "bob", "owner").exit_code == 2  # not a role: usage error
    error = _one_line_error(_run("users", "set-role", "ann", "moderator"))
    assert "only admin who can sign in" in error
    assert "only admin" in _one_line_error(_run("users", "disable", "ann"))
    assert _run("users", "disable", "bob").exit_code == 0
    assert _run("users", "enable", "bob").exit_code == 0
    result = _run("users", "set-languages", "bob", "de", "ru")
    assert result.exit_code == 0 and "'bob' reviews de, ru" in result.output, result.output
    assert "not a language code" in _one_line_error(_run("users", "set-languages", "bob", "x"))
    output = _run("users", "list").output
    listing = {
        name: line for line in output.splitlines() for name in ("ann", "bob") if name in line
    }
    assert "lead" in listing["bob"] and "never" not in listing["bob"] and "de,ru" in listing["bob"]
    assert "never" in listing["ann"] and "yes" not in listing["bob"]
    with get_database().session() as session:
        done = [e.action for e in reversed(audit.list_audit(session))]
    assert [a for a in done if a.startswith(("role", "user_"))] == [
        "user_added",
        "user_added",
        "role_changed",
        "user_disabled",
        "user_enabled",
    ]
    assert "languages_set" in done


def test_users_rename_keeps_the_last_sign_in(settings: Settings) -> None:
    _run("users", "add", "bob", "--password-stdin", input="another password\n")
    _run("users", "add", "cy", "--password-stdin", input="another password\n")
    auth.authenticate(get_database(), "bob", "another password", settings=settings)
    result = _run("users", "rename", "bob", "bob@new.example")
    assert result.exit_code == 0 and "'bob' is now 'bob@new.example'" in result.output
    assert "already exists" in _one_line_error(_run("users", "rename", "cy", "bob@new.example"))
    assert "no user 'bob'" in _one_line_error(_run("users", "rename", "bob", "robert"))
    (line,) = [line for line in _run("users", "list").output.splitlines() if "bob@" in line]
    assert "never" not in line  # its sign-ins moved with the name


def test_users_forget_sso_and_the_list_shows_who_is_bound(settings: Settings) -> None:
    _run("users", "add", "ann", "--password-stdin", input="long enough pw\n")
    _run("users", "add", "bob", "--password-stdin", input="another password\n")
    with get_database().session() as session:
        ann = users.get_user_by_name(session, username="ann")
        users.bind_sso_identity(session, user_id=ann.id, identity="https://idp.test s-1")
    output = _run("users", "list").output
    lines = {name: line for line in output.splitlines() for name in ("ann", "bob") if name in line}
    assert "bound" in lines["ann"] and "bound" not in lines["bob"]
    result = _run("users", "forget-sso", "ann")
    assert "'ann' binds a single sign-on identity at its next sign-in" in result.output
    assert "'ann' had no single sign-on identity" in _run("users", "forget-sso", "ann").output
    assert "no user 'eve'" in _one_line_error(_run("users", "forget-sso", "eve"))
    with get_database().session() as session:
        assert users.get_user_by_name(session, username="ann").sso_identity is None


def test_reset_password_prints_a_new_one_once_and_signs_the_user_out(settings: Settings) -> None:
    _run("users", "add", "ann", "--password-stdin", input="old password 1\n")
    db = get_database()
    old_session = auth.authenticate(db, "ann", "old password 1", settings=settings)
    result = _run("users", "reset-password", "ann")
    assert result.exit_code == 0, result.output
    new_password = result.output.split("new password for 'ann': ", 1)[1].split()[0]
    assert len(new_password) >= auth.MIN_PASSWORD_LENGTH
    assert auth.resolve_session(db, old_session.token) is None
    with pytest.raises(auth.InvalidCredentialsError):
        auth.authenticate(db, "ann", "old password 1", settings=settings)
    assert auth.authenticate(db, "ann", new_password, settings=settings).user.username == "ann"
    with db.session() as session:
        entries = audit.list_audit(session, action="password_reset")
    assert len(entries) == 1 and new_password not in entries[0].detail_json
    assert new_password not in _run("users", "list").output


def test_reset_password_from_stdin(settings: Settings) -> None:
    _run("users", "add", "ann", "--password-stdin", input="old password 1\n")
    result = _run("users", "reset-password", "ann", "--password-stdin", input="brand new pw 2\n")
    assert result.exit_code == 0, result.output
    assert "brand new pw 2" not in result.output
    assert (
        auth.authenticate(get_database(), "ann", "brand new pw 2", settings=settings).user.username
        == "ann"
    )


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["import", "missing.csv"], None, "missing.csv"),
        (["import-taxonomy"], None, "give a taxonomy file"),
        (["users", "add", "ann", "--password-stdin"], "short\n", "at least 8"),
        (["users", "reset-password", "nobody"], None, "no user 'nobody'"),
        (["users", "reset-password", "ann", "--password-stdin"], "short\n", "at least 8"),
        (["export", "out.xml"], None, "unknown export format"),
    ],
)
def test_failures_exit_1_with_one_line(settings: Settings, args, stdin, expected) -> None:
    line = _one_line_error(_run(*args, input=stdin))
    assert expected in line


def test_duplicate_user_and_bad_csv_are_one_line(settings: Settings, tmp_path: Path) -> None:
    _run("init")
    _run("users", "add", "ann", "--password-stdin", input="long enough pw\n")
    assert "already exists" in _one_line_error(
        _run("users", "add", "ann", "--password-stdin", input="long enough pw\n")
    )
    bad = tmp_path / "bad.csv"
    bad.write_text("video_id,title\nx,y\n", encoding="utf-8")
    assert "missing column" in _one_line_error(_run("import", str(bad)))


def test_serve_runs_the_dashboard_launch_command(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboard.launch import serve_command
    from scripts.cli import data

    ran: list[list[str]] = []
    monkeypatch.setattr(data.os, "execv", lambda path, command: ran.append(command))
    assert _run("serve", "--host", "0.0.0.0", "--port", "8642").exit_code == 0
    assert ran == [serve_command(host="0.0.0.0", port=8642)]


def test_listings_print_one_table_each(settings: Settings) -> None:
    added = _run("users", "add", "ann", "--password-stdin", input="pw-12345678\n")
    assert added.exit_code == 0, added.output
    result = _run("users", "list")
    assert result.exit_code == 0
    header = next(line for line in result.output.splitlines() if "username" in line)
    assert all(column in header for column in ("id", "role", "created", "disabled"))
    assert "ann" in result.output and "moderator" in result.output


def test_priority_raises_each_video_and_reports_the_ones_it_could_not(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    db = get_database()
    with db.session() as s:
        ids = [videos.create_video(s, title=f"v{i}").id for i in range(2)]
    result = _run(
        "priority", str(ids[0]), "999", str(ids[1]), "--level", "urgent", "--reason", "legal 7"
    )
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[:3] == [
        f"video {ids[0]}: urgent priority",
        "video 999: no video with id 999",
        f"video {ids[1]}: urgent priority",
    ]
    assert lines[-1] == "error: 1 of 3 videos not changed"
    with db.session() as s:
        stored = videos.get_videos(s, video_ids=ids)
        entries = audit.list_audit(s, action="priority_set")
    assert {(v.priority, v.priority_reason) for v in stored} == {(2, "legal 7")}
    assert sorted(e.video_id for e in entries) == ids
    assert _run("priority", str(ids[0]), "--level", "normal").exit_code == 0
    assert _run("priority", str(ids[0]), "--level", "asap").exit_code == 2


def test_review_targets_shown_set_and_refused_out_of_range(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    shown = _run("review-targets")
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == (
        "review targets: urgent within 30 min, high within 240 min of being raised"
    )
    assert _run("review-targets", "--urgent", "15").output.strip() == (
        "review targets: urgent within 15 min, high within 240 min of being raised"
    )
    assert _run("review-targets", "--high", "60").output.strip() == (
        "review targets: urgent within 15 min, high within 60 min of being raised"
    )
    assert _one_line_error(_run("review-targets", "--urgent", "0")) == (
        "error: the urgent review target must be 1 to 10,080 minutes (a week), got 0"
    )
    with get_database().session() as s:
        entries = audit.list_audit(s, action="review_targets")
    assert [json.loads(e.detail_json) for e in entries] == [
        {"urgent_minutes": 15, "high_minutes": 60},
        {"urgent_minutes": 15, "high_minutes": 240},
    ]


def test_priority_rules_add_list_remove(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    added = _run(
        "priority-rules",
        "add",
        "Sensitive Topics: Terrorism",
        "--min-probability",
        "0.5",
        "--level",
        "urgent",
    )
    assert added.exit_code == 0, added.output
    assert added.output.strip() == (
        "rule 1: Sensitive Topics: Terrorism from 0.50 -> urgent; 0 videos predicted so raised now"
    )
    listed = _run("priority-rules", "list").output
    assert "Terrorism" in listed and "urgent" in listed and "0.50" in listed  # a narrow table
    again = _run("priority-rules", "add", "8FD8nI", "--min-probability", "0.9", "--level", "high")
    assert _one_line_error(again) == (
        "error: tag 8FD8nI already has a priority rule; remove it first"
    )
    assert _one_line_error(
        _run("priority-rules", "add", "Cooking?", "--min-probability", "0.5", "--level", "high")
    ).startswith("error: unknown tag(s): 'Cooking?'")
    assert _run("priority-rules", "remove", "1").output.strip() == "removed rule 1"
    assert _one_line_error(_run("priority-rules", "remove", "1")) == (
        "error: no priority rule with id 1"
    )
    with get_database().session() as s:
        actions = [e.action for e in audit.list_audit(s)]
    assert actions.count("priority_rule_added") == actions.count("priority_rule_removed") == 1


def test_expire_media_deletes_what_the_retention_setting_says(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _run("init").exit_code == 0
    assert _run("expire-media").output.strip() == (
        "TAGGER_MEDIA_RETENTION_DAYS is 0: media is kept for good"
    )
    db = get_database()
    with db.session() as s:
        video_id = videos.create_video(s, title="old", status="predicted").id
    media = settings.media_dir / "old.mp4"
    media.parent.mkdir(parents=True, exist_ok=True)
    media.write_bytes(b"x" * 2048)
    with db.session() as s:
        video = s.get(Video, video_id)
        video.stored_path, video.content_hash = "media/old.mp4", "h"
        video.status, video.reviewed_at = "reviewed", utcnow() - timedelta(days=8)
        s.add(video)
    monkeypatch.setenv("TAGGER_MEDIA_RETENTION_DAYS", "7")
    get_settings.cache_clear()
    result = _run("expire-media")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "media of 1 reviewed videos expired: 1 files deleted, 0.0 MiB freed"
    )
    assert not media.exists()


def test_remove_takes_each_video_and_reports_the_ones_it_could_not(settings: Settings) -> None:
    """One unknown or busy id does not keep the others; every removal is audited."""
    assert _run("init").exit_code == 0
    db = get_database()
    with db.session() as s:
        kept = videos.create_video(s, title="kept").id
        gone = [videos.create_video(s, title=f"gone {i}").id for i in range(2)]
        busy = videos.create_video(s, title="busy", status="processing").id
    result = _run("remove", str(gone[0]), "999", str(busy), str(gone[1]), "--reason", "takedown 7")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert f"removed video {gone[0]} ('gone 0'): 0 files deleted" in lines
    assert f"removed video {gone[1]} ('gone 1'): 0 files deleted" in lines
    assert "video 999: no video with id 999" in lines
    assert f"video {busy}: video {busy} is being processed;" in result.output
    assert lines[-1] == "error: 2 of 4 videos not removed"
    with db.session() as s:
        assert [v.id for v in videos.get_videos(s, video_ids=[kept, *gone, busy])] == [kept, busy]
        removals = audit.list_audit(s, action="video_removed")
    assert sorted(e.video_id for e in removals) == sorted(gone)
    assert _run("remove", str(kept)).exit_code == 2  # --reason is required
