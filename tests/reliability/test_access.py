"""Access: roles on every dashboard page and action (tampered session state and pages run without
the router included), no clear-text password anywhere, rate-limited sign-in, expiring sessions,
model files never unpickled, uploads capped."""

from __future__ import annotations

import inspect
import io
import logging
import pickle
import re
from datetime import timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import String, TypeDecorator, select
from sqlmodel import SQLModel
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from core import auth
from core.auth import CurrentUser, InvalidCredentialsError, RateLimitedError
from core.config import get_settings
from core.ingest import batch as ingest
from core.lifecycle import registry
from dashboard import actions
from db.queries import model_versions as models_q
from db.queries import review as review_q
from db.queries import users as users_q
from db.tables import Job, Role, utcnow
from tests.support.fakes import activate_stand_in_model
from tests.support.signin import sign_in_apptest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
VIEWS = ROOT / "dashboard" / "views"
PASSWORD = "correct horse battery staple"
ADMIN_ACTIONS = {
    "send_back",
    "import_taxonomy",
    "start_training",
    "promote",
    "promote_and_predict",
    "rollback",
    "repredict",
    "ingest_paths",
    "remove_video",
    # accounts
    "add_account",
    "set_account_role",
    "rename_account",
    "set_account_disabled",
    "set_account_languages",
    "reset_account_password",
    "forget_account_sso",
    # HTTP API administration
    "create_api_token",
    "revoke_api_token",
    "add_webhook",
    "remove_webhook",
    # label quality settings
    "get_overlap",
    "set_overlap",
    "retrain_policy_state",
    "set_retrain_policy",
    # review priority
    "priority_rules",
    "add_priority_rule",
    "remove_priority_rule",
    "set_review_targets",
}
LEAD_ACTIONS = {
    "adjudicate",
    "agreement_report",
    "lead_sample",
    "lead_verdict",
    "list_disputes",
    "moderator_accuracy",
    "overlap_progress",
    "unjudged_by_moderator",
    "set_priority",
}
MODERATOR_ACTIONS = {
    "defer_save_review",  # checked by the write, in the session's worker
    "save_reviews",
    "claim_next",
    "claim_next_and_read",
    "claim_video",
    "claim_videos",
    "defer_release",
    "release_videos",
    "defer_flag",
    "upload",
    "change_own_password",  # any signed-in account, its own
    "own_work",
    "end_own_other_sessions",
}
ADMIN_PAGES = {"audit.py", "api_access.py", "accounts.py"}
LEAD_PAGES = {"quality.py", "lead_review.py"}
ADMIN_BUTTONS = {"models_retrain", "models_promote", "models_rollback", "models_repredict"}


@pytest.fixture
def fresh_caches():
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


@pytest.fixture
def model(db, settings) -> int:
    """A ready, active model version row (files not needed: admin actions are refused first)."""
    return activate_stand_in_model(db)


def _token(db, username: str) -> str:
    return auth.authenticate(db, username, PASSWORD).token


def _sign_in(username: str) -> AppTest:
    at = sign_in_apptest(AppTest.from_file(str(APP), default_timeout=60), username, PASSWORD)
    assert not at.exception, at.exception
    return at


def _reachable_pages(at: AppTest) -> set[str]:
    reachable = set()
    for page in sorted(p.name for p in VIEWS.glob("*.py")):
        try:
            at.switch_page(f"views/{page}")
        except ValueError:  # "Could not find a navigation page"
            continue
        reachable.add(page)
    return reachable


def test_every_action_is_classified_and_checks_the_role_in_its_body():
    """A new dashboard write must join one of the lists (and so be tested below)."""
    public = {
        name
        for name, fn in inspect.getmembers(actions, inspect.isfunction)
        if fn.__module__ == actions.__name__ and not name.startswith("_")
    } - {"run_admin"}
    assert public == ADMIN_ACTIONS | LEAD_ACTIONS | MODERATOR_ACTIONS
    for name in public:
        body = inspect.getsource(getattr(actions, name))
        role = (
            "Role.ADMIN"
            if name in ADMIN_ACTIONS
            else "Role.LEAD"
            if name in LEAD_ACTIONS
            else "Role.MODERATOR"
        )
        # directly, inside its unit of work, or through the helpers that check it there
        assert re.search(
            rf"(state\.require|_as|_read_as|_defer)\(\s*db,\s*{role}\b"
            rf"|state\.require_in\(\s*session,\s*{role}\b",
            body,
        ), name


def test_pages_per_role(db, taxonomy, accounts, fresh_caches, tally):
    signed_out = AppTest.from_file(str(APP), default_timeout=60).run()
    assert _reachable_pages(signed_out) == {"signin.py"}
    every_page = {p.name for p in VIEWS.glob("*.py")} - {"signin.py"}
    moderator = _reachable_pages(_sign_in("mod"))
    admin = _reachable_pages(_sign_in("boss"))
    assert moderator == every_page - ADMIN_PAGES - LEAD_PAGES
    assert admin == every_page
    tally["access checks (pages x roles)"] += 3 * len(every_page | {"signin.py"})


def _action_script() -> None:
    """Runs inside AppTest: every action with the session state the test planted."""
    import streamlit as st

    from core import bulk_review
    from core.auth import PermissionDeniedError
    from dashboard import actions, cache

    db = cache.database()
    calls = {
        "send_back": lambda: actions.send_back(db, video_ids=[1], reason="x"),
        "import_taxonomy": lambda: actions.import_taxonomy(
            db, data=b"Tier 1\nEvil\n", filename="t.csv"
        ),
        "start_training": lambda: actions.start_training(db, activate=True),
        "promote": lambda: actions.promote(db, version_id=1),
        "promote_and_predict": lambda: actions.promote_and_predict(db, version_id=1),
        "rollback": lambda: actions.rollback(db),
        "repredict": lambda: actions.repredict(db, version_id=1),
        "ingest_paths": lambda: actions.ingest_paths(db, paths=["/"]),
        "defer_save_review": lambda: actions.defer_save_review(
            db, video_id=1, expected_version=0, node_ids=[], then_claim=None, about=None
        ).result(timeout=30),
        "save_reviews": lambda: actions.save_reviews(
            db, saves=[bulk_review.BulkSave(video_id=1, expected_version=0, node_ids=())]
        ),
        "claim_next": lambda: actions.claim_next(db, filters=None, exclude_ids=[]),
        "claim_next_and_read": lambda: actions.claim_next_and_read(
            db, filters=None, exclude_ids=[], read=lambda session, video: video.id
        ),
        "claim_videos": lambda: actions.claim_videos(db, video_ids=[1]),
        "release_videos": lambda: actions.release_videos(db, video_ids=[1], skipped=False),
        "claim_video": lambda: actions.claim_video(db, video_id=1),
        "defer_release": lambda: actions.defer_release(
            db, video_id=1, skipped=False, then_claim=None, about=None
        ).result(timeout=30),
        "defer_flag": lambda: actions.defer_flag(db, video_id=1, reason="x", about=None).result(
            timeout=30
        ),
        "upload": lambda: actions.upload(db, data=b"x", filename="x.mp4", title="", description=""),
        "create_api_token": lambda: actions.create_api_token(
            db, name="t", username="mod", scope="admin"
        ),
        "revoke_api_token": lambda: actions.revoke_api_token(db, name="t"),
        "add_webhook": lambda: actions.add_webhook(
            db, url="http://127.0.0.1:9/x", secret="s" * 32, events=[]
        ),
        "remove_webhook": lambda: actions.remove_webhook(db, subscriber_id=1),
        "remove_video": lambda: actions.remove_video(db, video_id=1, reason="takedown"),
        "add_account": lambda: actions.add_account(db, username="eve", role="admin"),
        "set_account_role": lambda: actions.set_account_role(db, username="mod", role="admin"),
        "rename_account": lambda: actions.rename_account(db, username="boss", new_username="eve"),
        "set_account_disabled": lambda: actions.set_account_disabled(
            db, username="boss", disabled=True
        ),
        "set_account_languages": lambda: actions.set_account_languages(
            db, username="boss", languages=["xx"]
        ),
        "reset_account_password": lambda: actions.reset_account_password(db, username="boss"),
        "forget_account_sso": lambda: actions.forget_account_sso(db, username="boss"),
        "own_work": lambda: actions.own_work(db),
        "end_own_other_sessions": lambda: actions.end_own_other_sessions(db),
        "change_own_password": lambda: actions.change_own_password(
            db, current_password="correct horse battery staple", new_password="taken over!"
        ),
        "get_overlap": lambda: actions.get_overlap(db),
        "set_review_targets": lambda: actions.set_review_targets(
            db, urgent_minutes=1, high_minutes=1
        ),
        "set_overlap": lambda: actions.set_overlap(db, share=1.0, moderators=2),
        "retrain_policy_state": lambda: actions.retrain_policy_state(db),
        "set_retrain_policy": lambda: actions.set_retrain_policy(
            db, mode="after_labels", every_hours=1.0, after_labels=1, min_gain=0.0
        ),
        "adjudicate": lambda: actions.adjudicate(db, video_id=1, expected_version=0, node_ids=[]),
        "agreement_report": lambda: actions.agreement_report(db),
        "lead_sample": lambda: actions.lead_sample(db, mode="random", n=5),
        "lead_verdict": lambda: actions.lead_verdict(
            db, video_id=1, verdict="accepted", expected_version=0
        ),
        "list_disputes": lambda: actions.list_disputes(db),
        "moderator_accuracy": lambda: actions.moderator_accuracy(db),
        "overlap_progress": lambda: actions.overlap_progress(db),
        "unjudged_by_moderator": lambda: actions.unjudged_by_moderator(db),
        "set_priority": lambda: actions.set_priority(db, video_id=1, level="urgent", reason=""),
        "priority_rules": lambda: actions.priority_rules(db),
        "add_priority_rule": lambda: actions.add_priority_rule(
            db, node_id="8FD8nI", min_probability=0.5, level="urgent"
        ),
        "remove_priority_rule": lambda: actions.remove_priority_rule(db, rule_id=1),
    }
    for name in st.session_state["to_try"]:
        try:
            calls[name]()
        except PermissionDeniedError:
            st.text(f"denied {name}")


def _try_actions(names: set[str], state: dict) -> set[str]:
    at = AppTest.from_function(_action_script, default_timeout=60)
    for key, value in state.items():
        at.session_state[key] = value
    at.session_state["to_try"] = sorted(names)
    at.run()
    assert not at.exception, at.exception
    return {t.value.removeprefix("denied ") for t in at.text}


def _accounts(session) -> list[tuple]:
    return [
        (u.username, u.role, u.disabled, u.password_hash, u.languages, u.sso_identity)
        for u in users_q.list_users(session)
    ]


def test_admin_actions_refuse_moderators_even_with_tampered_state(
    db, settings, taxonomy, accounts, model, fresh_caches, tally
):
    mod = accounts["mod"]
    forged_admin = CurrentUser(id=mod.id, username="mod", role="admin")
    states = {
        "moderator token": {"auth_token": _token(db, "mod")},
        "moderator token, state claims admin": {
            "auth_token": _token(db, "mod"),
            "current_user": forged_admin,
            "role": "admin",
            "is_admin": True,
        },
        "no token, state claims admin": {
            "current_user": CurrentUser(id=accounts["boss"].id, username="boss", role="admin")
        },
        "forged token": {"auth_token": "forged-" + "A" * 40, "current_user": forged_admin},
    }
    with db.session() as session:
        # an identity to forget (forget_account_sso): it must stay bound
        users_q.bind_sso_identity(session, user_id=accounts["boss"].id, identity="https://idp b")
        before = (models_q.get_active_model(session).id, len(session.exec(select(Job)).all()))
        people = _accounts(session)
        targets = review_q.review_targets(session)
    above_moderator = ADMIN_ACTIONS | LEAD_ACTIONS
    for name, state in states.items():
        assert _try_actions(above_moderator, state) == above_moderator, name
        tally["access checks (actions x identities)"] += len(above_moderator)
    for name in ("no token, state claims admin", "forged token"):
        assert _try_actions(MODERATOR_ACTIONS, states[name]) == MODERATOR_ACTIONS, name
        tally["access checks (actions x identities)"] += len(MODERATOR_ACTIONS)
    with db.session() as session:  # nothing happened
        assert (
            models_q.get_active_model(session).id,
            len(session.exec(select(Job)).all()),
        ) == before
        assert _accounts(session) == people
        assert review_q.review_targets(session) == targets
    assert _try_actions({"send_back"}, {"auth_token": _token(db, "boss")}) == set()  # the admin may


def test_disabled_or_demoted_accounts_lose_rights_at_once(
    db, taxonomy, accounts, model, fresh_caches
):
    admin_token = _token(db, "boss")
    with db.session() as session:
        users_q.update_user(session, user_id=accounts["boss"].id, role=Role.MODERATOR)
    assert _try_actions({"promote"}, {"auth_token": admin_token}) == {"promote"}
    mod_token = _token(db, "mod")
    with db.session() as session:
        users_q.update_user(session, user_id=accounts["mod"].id, disabled=True)
    assert _try_actions({"claim_next"}, {"auth_token": mod_token}) == {"claim_next"}


def test_admin_pages_run_without_the_router_still_refuse(
    db, taxonomy, accounts, model, fresh_caches, tally
):
    """The page scripts themselves, given a moderator token and state that claims admin."""
    mod = accounts["mod"]
    forged = {
        "auth_token": _token(db, "mod"),
        "current_user": CurrentUser(id=mod.id, username="mod", role="admin"),
    }

    audit_page = AppTest.from_file(str(VIEWS / "audit.py"), default_timeout=60)
    for key, value in forged.items():
        audit_page.session_state[key] = value
    audit_page.run()
    assert [e.value for e in audit_page.error] == ["Admins only."] and not audit_page.dataframe

    models_page = AppTest.from_file(str(VIEWS / "models.py"), default_timeout=60)
    for key, value in forged.items():
        models_page.session_state[key] = value
    models_page.run()
    shown = {
        b.key for b in models_page.button if not b.disabled
    } & ADMIN_BUTTONS  # forged state shows them ...
    for key in sorted(shown):
        models_page.button(key=key).click().run()
        assert any("needs the admin role" in e.value for e in models_page.error), (
            key
        )  # ... which refuse
    with db.session() as session:
        assert not session.exec(select(Job)).all()
        assert models_q.get_active_model(session).id == model
    tally["access checks (pages run directly)"] += 1 + len(shown)


def _is_text(column) -> bool:
    kind = column.type
    return isinstance(
        kind.impl if isinstance(kind, TypeDecorator) else kind, String
    )  # sqlmodel's AutoString


def _all_text_values(db) -> list[str]:
    values = []
    with db.session() as session:
        connection = session.connection()
        for table in SQLModel.metadata.sorted_tables:
            columns = [c for c in table.columns if _is_text(c)]
            for row in connection.execute(select(*columns)) if columns else []:
                values += [v for v in row if isinstance(v, str)]
    return values


def test_passwords_never_stored_or_logged_in_clear(db, settings, taxonomy, caplog, capfd):
    from scripts.cli import app

    secret, wrong = "s3cret-Passphrase-xyz", "wrong-Guess-abc123"
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    added = runner.invoke(
        app, ["users", "add", "alice", "--role", "admin", "--password-stdin"], input=secret + "\n"
    )
    assert added.exit_code == 0, added.output
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, "alice", wrong)
    token = auth.authenticate(db, "alice", secret).token
    listed = runner.invoke(app, ["users", "list"])

    captured = capfd.readouterr()
    everything = [
        added.output,
        listed.output,
        captured.out,
        captured.err,
        caplog.text,
        *_all_text_values(db),
    ]
    for clear in (secret, wrong, token):
        assert not [text for text in everything if clear in text], "a password or token in clear"
    with db.session() as session:
        stored = users_q.get_user_by_name(session, username="alice")
    assert stored.password_hash.startswith("$argon2id$") and auth.verify_password(
        stored.password_hash, secret
    )
    raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("tagger.duckdb*") if p.is_file())
    assert secret.encode() not in raw and wrong.encode() not in raw and token.encode() not in raw


def test_a_password_typed_as_the_username_is_not_stored(db, settings, accounts):
    secret = "s3cret-Passphrase-xyz"
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(db, secret, secret)
    assert not [text for text in _all_text_values(db) if secret in text]


def test_sign_in_is_rate_limited_per_user_and_recovers_after_the_window(db, settings, accounts):
    """Guesses made in parallel are limited too: tests/core/test_auth.py, on both backends."""
    t0 = utcnow()
    for i in range(settings.login_max_failures):
        with pytest.raises(InvalidCredentialsError):
            auth.authenticate(
                db, "mod", f"guess {i}", settings=settings, now=t0 + timedelta(seconds=i)
            )
    later = t0 + timedelta(seconds=settings.login_max_failures)
    with pytest.raises(RateLimitedError):
        auth.authenticate(
            db, "mod", PASSWORD, settings=settings, now=later
        )  # right password, still locked
    with pytest.raises(RateLimitedError):
        auth.authenticate(
            db, " mod ", PASSWORD, settings=settings, now=later
        )  # spaces do not reset it
    assert (
        auth.authenticate(db, "mod2", PASSWORD, settings=settings, now=later).user.username
        == "mod2"
    )
    after_window = t0 + timedelta(
        seconds=settings.login_window_seconds + settings.login_max_failures + 1
    )
    assert (
        auth.authenticate(db, "mod", PASSWORD, settings=settings, now=after_window).user.username
        == "mod"
    )


def test_sessions_expire_and_end(db, settings, accounts):
    t0 = utcnow()
    session = auth.authenticate(db, "mod", PASSWORD, settings=settings, now=t0)
    lifetime = timedelta(hours=settings.session_hours)
    assert (
        auth.resolve_session(db, session.token, now=t0 + lifetime - timedelta(seconds=1)).username
        == "mod"
    )
    assert auth.resolve_session(db, session.token, now=t0 + lifetime) is None
    assert auth.resolve_session(db, session.token[:-1] + "x", now=t0) is None
    other = auth.authenticate(db, "mod", PASSWORD, settings=settings, now=t0)
    auth.logout(db, other.token)
    assert auth.resolve_session(db, other.token, now=t0) is None


def test_dashboard_session_expires_with_the_clock(
    db, taxonomy, accounts, fresh_caches, monkeypatch
):
    at = _sign_in("mod")
    at.switch_page("views/queue.py").run()
    assert [t.value for t in at.title] == ["Review queue"]
    hours = get_settings().session_hours
    monkeypatch.setattr(auth, "utcnow", lambda: utcnow() + timedelta(hours=hours, seconds=1))
    at.run()
    assert [t.value for t in at.title] == ["Video tagger"]  # back at the sign-in page
    assert at.session_state["auth_token"] is None


class _Boom:
    """Unpickling this runs code; loading a model must never do it."""

    def __reduce__(self):
        return (Path.touch, (Path(__file__).with_name("PICKLE_EXECUTED"),))


def _planted_model(db, settings, taxonomy) -> tuple[int, Path]:
    """A trained, registered version (tiny network) and its folder."""
    import numpy as np

    from core.classifier import HierarchicalClassifier, Hierarchy

    hierarchy = Hierarchy(taxonomy.parents_index())
    rng = np.random.default_rng(0)
    X = {"title": rng.standard_normal((24, 8)).astype(np.float32)}
    Y = hierarchy.close_upward(rng.random((24, hierarchy.n_nodes)) < 0.3)
    clf = HierarchicalClassifier(
        n_ensemble=1, max_epochs=2, d_model=8, n_heads=2, n_layers=1, mlp_width=16
    )
    clf.fit(X, Y, hierarchy=hierarchy)
    with db.session() as session:
        version_id = models_q.create_model_version(
            session, encoder_id="fake", encoder_version="v1"
        ).id
    metadata = registry.ModelMetadata(
        encoder_id="fake",
        encoder_version="v1",
        node_ids=taxonomy.ids,
        node_paths=[n.path for n in taxonomy.nodes],
        node_parents=[list(p) for p in hierarchy.parents],
    )
    registry.register_version(
        db,
        version_id=version_id,
        classifier=clf,
        metadata=metadata,
        settings=settings,
        user=None,
        activate=True,
    )
    return version_id, registry.artifact_dir(settings, version_id)


@pytest.mark.parametrize("rewrite_manifest", [False, True])
def test_a_planted_pickle_is_never_executed(db, settings, taxonomy, rewrite_manifest):
    import hashlib
    import json

    marker = Path(__file__).with_name("PICKLE_EXECUTED")
    marker.unlink(missing_ok=True)
    version_id, folder = _planted_model(db, settings, taxonomy)
    registry._cache.clear()
    payload = pickle.dumps(_Boom())
    for name in ("model.safetensors", "model.pkl", "model.pt", "pytorch_model.bin"):
        (folder / name).write_bytes(payload)
    if rewrite_manifest:  # an attacker who can write the folder can rewrite the checksums too
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["model.safetensors"] = hashlib.sha256(payload).hexdigest()
        (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(Exception) as raised:
        registry.load_model(db, version_id, settings=settings)
    assert not marker.exists(), "loading a model unpickled attacker bytes"
    assert "PICKLE_EXECUTED" not in str(raised.value)


def test_a_planted_pickle_is_reported_as_a_damaged_artifact(db, settings, taxonomy):
    import hashlib
    import json

    version_id, folder = _planted_model(db, settings, taxonomy)
    registry._cache.clear()
    payload = pickle.dumps(_Boom())
    (folder / "model.safetensors").write_bytes(payload)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["model.safetensors"] = hashlib.sha256(payload).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(registry.ArtifactError):
        registry.load_model(db, version_id, settings=settings)


def test_model_code_never_unpickles():
    for path in [
        *(ROOT / "core" / "classifier").glob("*.py"),
        ROOT / "core" / "lifecycle" / "registry.py",
    ]:
        text = path.read_text()
        for needle in ("pickle.load", "torch.load(", "joblib", "np.load(", "allow_pickle=True"):
            assert needle not in text, f"{path.name} uses {needle}"


class _CountingStream(io.RawIOBase):
    """An endless upload that counts how much the server read."""

    def __init__(self) -> None:
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 1 << 20 if size is None or size < 0 else size
        self.read_bytes += size
        return b"\0" * size


def test_uploads_are_capped_while_streaming(db, settings, tally):
    settings.max_upload_mb = 2
    stream = _CountingStream()
    with pytest.raises(ingest.UploadRejected, match="2 MB"):
        ingest.ingest_upload(
            db,
            data=stream,
            filename="huge.mp4",
            title="",
            description="",
            settings=settings,
            user=None,
        )
    assert (
        stream.read_bytes <= 4 << 20
    )  # stopped right after the limit, not at the end of the stream
    assert list(settings.media_dir.iterdir()) == []  # nothing kept
    with pytest.raises(ingest.UploadRejected, match="2 MB"):
        ingest.ingest_upload(
            db,
            data=b"\0" * ((2 << 20) + 1),
            filename="big.mp4",
            title="",
            description="",
            settings=settings,
            user=None,
        )
    tally["hostile media inputs tried"] += 2


def test_the_upload_widget_carries_the_limit(db, taxonomy, accounts, fresh_caches):
    at = _sign_in("mod")
    at.switch_page("views/ingest.py").run()
    [uploader] = at.get("file_uploader")
    assert uploader.proto.max_upload_size_mb == get_settings().max_upload_mb
