"""`tagger tokens` and `tagger webhooks`: secrets printed once and stored hashed, scope rules,
revocation, subscriber management and the delivery log; one-line failures."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from core import tokens
from core.config import Settings
from db.engine import get_database
from db.queries import audit as audit_q
from db.queries import tokens as tokens_q
from db.queries import users as users_q
from scripts.cli import app

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def _error(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1, result.output
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    return lines[0]


def _accounts() -> None:
    with get_database().session() as session:
        users_q.create_user(session, username="boss", password_hash="x", role="admin")
        users_q.create_user(session, username="mod", password_hash="x", role="moderator")


def test_tokens_create_list_revoke(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    _accounts()
    created = _run("tokens", "create", "uploader", "--user", "mod", "--scope", "write")
    assert created.exit_code == 0, created.output
    secret = re.search(r"(tgr_\S+)", created.output).group(1)
    db = get_database()
    with db.session() as session:
        [stored] = tokens_q.list_tokens(session)
    assert stored.token_hash == tokens.hash_secret(secret) and secret not in stored.token_hash
    assert tokens.resolve_token(db, secret, cache_s=0).scope == "write"
    listed = _run("tokens", "list")
    assert "uploader" in listed.output and "mod" in listed.output and secret not in listed.output
    assert _run("tokens", "revoke", "uploader").exit_code == 0
    assert tokens.resolve_token(db, secret, cache_s=0) is None
    with db.session() as session:
        actions = [e.action for e in audit_q.list_audit(session)]
    assert "token_created" in actions and "token_revoked" in actions


def test_token_rules_fail_in_one_line(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    _accounts()
    assert "at most the write scope" in _error(
        _run("tokens", "create", "x", "--user", "mod", "--scope", "admin")
    )
    assert "no active account" in _error(_run("tokens", "create", "x", "--user", "ghost"))
    assert _run("tokens", "create", "x", "--user", "boss", "--scope", "admin").exit_code == 0
    assert "already exists" in _error(_run("tokens", "create", "x", "--user", "boss"))
    assert "without spaces" in _error(_run("tokens", "create", "a b", "--user", "boss"))
    assert "no token named" in _error(_run("tokens", "revoke", "nope"))


def test_webhooks_add_list_remove_log(settings: Settings) -> None:
    assert _run("init").exit_code == 0
    added = _run("webhooks", "add", "https://example.org/hook", "--event", "video.failed")
    assert added.exit_code == 0, added.output
    assert "signing secret:" in added.output
    listed = _run("webhooks", "list")
    assert "https://example.org/hook" in listed.output and "video.failed" in listed.output
    assert _run("webhooks", "remove", "1").exit_code == 0
    assert "removed" in _run("webhooks", "list").output
    assert _run("webhooks", "log").exit_code == 0
    assert "http(s)" in _error(_run("webhooks", "add", "not a url"))
    assert "no webhook with id 7" in _error(_run("webhooks", "remove", "7"))
