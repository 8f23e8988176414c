"""Users, sign-in sessions, login attempts, background jobs, audit log."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from db.engine import Database
from db.queries import DuplicateError, NotFoundError, audit, jobs, users
from db.tables import JobStatus, utcnow


def test_users_crud(database: Database) -> None:
    with database.session() as session:
        u = users.create_user(session, username="ann", password_hash="h", role="admin")
        users.create_user(session, username="bob", password_hash="h")
        users.update_user(session, user_id=u.id, role="moderator", disabled=True)
    with database.session() as session:
        assert [x.username for x in users.list_users(session)] == ["ann", "bob"]
        ann = users.get_user_by_name(session, username="ann")
        assert (ann.role, ann.disabled) == ("moderator", True)
        assert users.count_users(session, role="moderator") == 2
    with pytest.raises(DuplicateError), database.session() as session:
        users.create_user(session, username="ann", password_hash="h")
    with pytest.raises(ValueError, match="unknown role"), database.session() as session:
        users.create_user(session, username="eve", password_hash="h", role="root")
    with pytest.raises(NotFoundError), database.session() as session:
        users.get_user(session, user_id=999)


def test_user_sessions_and_revocation(database: Database) -> None:
    with database.session() as session:
        uid = users.create_user(session, username="ann", password_hash="h").id
        users.create_user_session(
            session, token_hash="t1", user_id=uid, expires_at=utcnow() + timedelta(hours=1)
        )
        users.create_user_session(
            session, token_hash="t2", user_id=uid, expires_at=utcnow() + timedelta(hours=1)
        )
        users.revoke_user_sessions(session, token_hashes=["t1"])
    with database.session() as session:
        assert users.get_user_session(session, token_hash="t1").revoked
        assert not users.get_user_session(session, token_hash="t2").revoked
        users.revoke_all_user_sessions(session, user_id=uid)
    with database.session() as session:
        assert users.get_user_session(session, token_hash="t2").revoked
        assert users.get_user_session(session, token_hash="nope") is None


def test_failed_login_count_window_and_reset(database: Database) -> None:
    now = utcnow()
    with database.session() as session:
        users.record_login_attempt(
            session, username="ann", success=False, created_at=now - timedelta(hours=2)
        )
        users.record_login_attempt(
            session, username="ann", success=False, created_at=now - timedelta(seconds=30)
        )
        users.record_login_attempt(session, username="bob", success=False, created_at=now)
    with database.session() as session:
        assert (
            users.count_failed_logins(session, username="ann", since=now - timedelta(minutes=5))
            == 1
        )
        users.record_login_attempt(
            session, username="ann", success=True, created_at=now - timedelta(seconds=10)
        )
    with database.session() as session:
        assert (
            users.count_failed_logins(session, username="ann", since=now - timedelta(minutes=5))
            == 0
        )


def test_jobs_progress(database: Database) -> None:
    with database.session() as session:
        job = jobs.create_job(session, kind="train", created_by=1, params={"epochs": 3})
        jobs.create_job(session, kind="ingest")
    with database.session() as session:
        jobs.update_job(
            session,
            job_id=job.id,
            status=JobStatus.RUNNING,
            progress=1.7,
            metrics={"loss": [0.5]},
            pid=42,
        )
    with database.session() as session:
        got = jobs.get_job(session, job_id=job.id)
        assert (got.status, got.progress, got.pid) == ("running", 1.0, 42)
        assert json.loads(got.metrics_json) == {"loss": [0.5]} and json.loads(got.params_json) == {
            "epochs": 3
        }
        assert [j.kind for j in jobs.list_jobs(session)] == ["ingest", "train"]
        assert [j.id for j in jobs.list_jobs(session, kind="train", statuses=["running"])] == [
            job.id
        ]
    with pytest.raises(ValueError, match="unknown job status"), database.session() as session:
        jobs.update_job(session, job_id=job.id, status="done")


def test_audit_is_append_only_and_filterable(database: Database, moderator) -> None:
    with database.session() as session:
        audit.add_audit(
            session, action="flagged", user=moderator, video_id=3, detail={"reason": "spam"}
        )
        audit.add_audit(session, action="login_failed", username="mallory")
    with database.session() as session:
        entries = audit.list_audit(session)
        assert [(e.action, e.username) for e in entries] == [
            ("login_failed", "mallory"),
            ("flagged", "mod"),
        ]
        assert json.loads(audit.list_audit(session, video_id=3)[0].detail_json) == {
            "reason": "spam"
        }
    public = [name for name in dir(audit) if not name.startswith("_")]
    assert not any(name.startswith(("update", "delete")) for name in public)
