"""Sign-in, sign-out, session expiry and the permission rules of the dashboard."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core import review as review_rules
from core import taxonomy as taxonomy_core
from core.auth import CurrentUser
from core.config import get_settings
from dashboard.components import spreadsheet_csv
from dashboard.routes import session
from dashboard.routes import sso as sso_routes
from dashboard.state import REVIEW_VIDEO
from db.queries import audit as audit_q
from db.queries import users as users_q

ADMIN_ONLY_KEYS = ("models_retrain", "models_promote", "models_rollback", "models_repredict")


def _titles(at: AppTest) -> list[str]:
    return [t.value for t in at.title]


def _html(at: AppTest) -> str:
    return "\n".join(e.proto.body for e in at.get("html"))


def test_nothing_but_sign_in_before_sign_in(seeded, new_app) -> None:
    at = new_app().run()
    assert _titles(at) == ["Video tagger"]
    assert not at.dataframe and not at.metric
    for page in ("queue", "review", "models", "audit"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(f"views/{page}.py")
    form = _html(at)  # a plain form posting to our route, which answers with the cookie
    assert f'method="post" action="{session.SIGNIN_PATH}"' in form
    assert 'name="username"' in form and 'type="password"' in form


@pytest.mark.parametrize(
    ("reason", "message"),
    [(session.INVALID, "Wrong username or password."), (session.RATE_LIMITED, "Too many failed")],
)
def test_refused_sign_in_is_explained_once(seeded, new_app, reason, message) -> None:
    at = new_app()
    at.query_params[session.SIGNIN_RESULT_PARAM] = reason  # where the route redirects to
    at.run()
    assert at.error[0].value.startswith(message)
    assert session.SIGNIN_RESULT_PARAM not in at.query_params
    at.run()
    assert not at.error
    assert at.session_state["auth_token"] is None


def _with_provider(monkeypatch, **more: str) -> None:
    settings = {"OIDC_ISSUER": "https://idp.example.com", "OIDC_CLIENT_ID": "tagger", **more}
    for name, value in settings.items():
        monkeypatch.setenv(f"TAGGER_{name}", value)
    get_settings.cache_clear()


def test_single_sign_on_is_offered_beside_passwords_or_instead(seeded, new_app, monkeypatch):
    _with_provider(monkeypatch, OIDC_NAME="Acme <Okta>")
    form = _html(new_app().run())
    assert f'method="get" action="{sso_routes.START_PATH}"' in form
    assert "Sign in with Acme &lt;Okta&gt;" in form  # the setting, escaped
    assert f'action="{session.SIGNIN_PATH}"' in form
    _with_provider(monkeypatch, PASSWORD_SIGNIN="false")
    form = _html(new_app().run())
    assert f'action="{sso_routes.START_PATH}"' in form
    assert session.SIGNIN_PATH not in form and 'type="password"' not in form


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("sso_refused", "Okta signed you in, but that gives no access here"),
        ("sso_failed", "Sign-in with Okta did not complete"),
        (session.PASSWORD_OFF, "Passwords are not accepted here: sign in with Okta."),
    ],
)
def test_a_single_sign_on_that_did_not_end_signed_in_is_explained(
    seeded, new_app, monkeypatch, reason, message
) -> None:
    _with_provider(monkeypatch, OIDC_NAME="Okta")
    at = new_app()
    at.query_params[session.SIGNIN_RESULT_PARAM] = reason
    at.run()
    assert at.error[0].value.startswith(message)


def test_wrong_password_signs_nobody_in(seeded, new_app, sign_in) -> None:
    with pytest.raises(auth.InvalidCredentialsError):
        sign_in(new_app(), "mod", "not the password")


def test_signed_in_pages_offer_sign_out(signed_in) -> None:
    at = signed_in("mod")
    at.switch_page("views/queue.py").run()
    assert _titles(at) == ["Review queue"]
    assert "mod" in at.sidebar.caption[0].value
    assert f'method="post" action="{session.SIGNOUT_PATH}"' in _html(at)


def test_expired_session_returns_to_sign_in(signed_in, seeded) -> None:
    at = signed_in("mod")
    at.session_state[REVIEW_VIDEO] = seeded.video_ids[0]
    auth.logout(seeded.db, at.session_state["auth_token"])  # revoked server-side (same as expiry)
    at.run()
    assert _titles(at) == ["Video tagger"]
    assert "expired" in at.warning[0].value
    assert at.session_state["auth_token"] is None
    assert at.session_state[REVIEW_VIDEO] is None  # one user's review state ends with them
    at.run()
    assert not at.warning  # said once


def test_moderator_has_no_admin_pages_or_actions(signed_in) -> None:
    at = signed_in("mod")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/audit.py")
    at.switch_page("views/models.py").run()
    keys = {b.key for b in at.button}
    assert not keys & set(ADMIN_ONLY_KEYS)
    at.switch_page("views/taxonomy.py").run()
    assert not at.file_uploader  # no taxonomy import
    at.switch_page("views/ingest.py").run()
    assert [f.key for f in at.file_uploader] == ["ingest_file"]  # upload yes, server folders no


def test_tampered_session_state_does_not_grant_admin(signed_in) -> None:
    at = signed_in("mod")
    mod_id = at.session_state["current_user"].id
    at.session_state["current_user"] = CurrentUser(id=mod_id, username="mod", role="admin")
    at.session_state["role"] = "admin"
    at.switch_page("views/models.py").run()
    assert not {b.key for b in at.button} & set(ADMIN_ONLY_KEYS)
    assert at.session_state["current_user"].role == "moderator"  # re-read from the database
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/audit.py")


def test_admin_action_rechecks_role_from_the_token(seeded, signed_in) -> None:
    """Even if a page rendered an admin control, the action itself refuses a moderator token."""
    token = signed_in("mod").session_state["auth_token"]

    def script() -> None:
        import streamlit as st

        from core.auth import CurrentUser, PermissionDeniedError
        from dashboard import actions, cache

        st.session_state["current_user"] = CurrentUser(id=1, username="mod", role="admin")
        try:
            actions.send_back(cache.database(), video_ids=[1], reason="x")
        except PermissionDeniedError as e:
            st.text(f"denied: {e}")

    at = AppTest.from_function(script, default_timeout=30)
    at.session_state["auth_token"] = token
    at.run()
    assert not at.exception
    assert at.text[0].value.startswith("denied: this needs the admin role")


def test_admin_sees_admin_pages(signed_in) -> None:
    at = signed_in("boss")
    at.switch_page("views/audit.py").run()
    assert _titles(at) == ["Audit log"]
    assert "login" in {row for row in at.dataframe[0].value["action"]}
    at.switch_page("views/models.py").run()
    assert {"models_retrain", "models_promote", "models_rollback"} <= {b.key for b in at.button}


def test_admin_filters_the_audit_log_by_account_and_video(signed_in, seeded) -> None:
    with seeded.db.session() as s:
        mod = users_q.get_user_by_name(s, username="mod")
        review_rules.set_flag(
            s, video_id=seeded.video_ids[0], user=mod, flagged=True, reason="odd audio"
        )
    at = signed_in("boss").switch_page("views/audit.py").run()
    assert {"login", "flagged"} <= set(at.dataframe[0].value["action"])
    at.selectbox(key="audit_account").set_value(mod.id).run()
    assert set(at.dataframe[0].value["user"]) == {"mod"}
    at.number_input(key="audit_video").set_value(seeded.video_ids[0]).run()
    shown = at.dataframe[0].value
    assert list(shown["action"]) == ["flagged"] and set(shown["video"]) == {seeded.video_ids[0]}
    assert not at.exception and "1 entry, newest first" in at.caption[0].value


def test_the_audit_log_names_tags_and_entries_no_account_made(signed_in, seeded) -> None:
    """A tag by its path, not its id; an entry a command or the server made says so."""
    soccer = taxonomy_core.load_iab3().find("Sports: Soccer").id
    with seeded.db.session() as s:
        mod = users_q.get_user_by_name(s, username="mod")
        audit_q.add_audit(
            s, action="binary_answer", user=mod, video_id=seeded.video_ids[0], node_id=soccer
        )
        audit_q.add_audit(s, action="model_promoted", detail={"model_version_id": 1})
    shown = signed_in("boss").switch_page("views/audit.py").run().dataframe[0].value
    answer = shown[shown["action"] == "binary_answer"].iloc[0]
    assert (answer["user"], answer["tag"], answer["tag id"]) == ("mod", "Sports: Soccer", soccer)
    assert answer["detail"] == ""  # no detail: an empty cell, not "{}"
    promoted = shown[shown["action"] == "model_promoted"].iloc[0]
    assert promoted["user"] == "system" and "model_version_id" in promoted["detail"]


def test_the_audit_download_shows_formula_like_text_as_text() -> None:
    """An account named ``=HYPERLINK(...)`` or a detail starting with ``-`` would run as a
    formula in a spreadsheet."""
    table = pd.DataFrame({"user": ['=HYPERLINK("http://x")', "-2+3", "@SUM(A1)", "ann"]})
    table["video"] = [1, None, -3, 4]
    rows = list(csv.DictReader(io.StringIO(spreadsheet_csv(table).decode("utf-8"))))
    assert [r["user"] for r in rows] == ['\'=HYPERLINK("http://x")', "'-2+3", "'@SUM(A1)", "ann"]
    assert [r["video"] for r in rows] == ["1.0", "", "-3.0", "4.0"]  # numbers stay numbers
