"""Accounts page (admins): add an account with a generated password shown once, change its role,
disable and enable it, reset its password, never lose the last admin; the Password page, where
every account changes its own."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core import auth
from core.auth import InvalidCredentialsError
from core.config import get_settings
from db.queries import audit, videos
from db.queries import users as users_q
from db.tables import AuditAction
from tests.dashboard.conftest import PASSWORD


def _click(at: AppTest, label: str) -> AppTest:
    return at.button[[b.label for b in at.button].index(label)].click().run()


def _table(at: AppTest) -> dict[str, dict]:
    [frame] = [d.value for d in at.dataframe]
    return {row["account"]: row for row in frame.to_dict("records")}


def _role_of(seeded, username: str) -> str:
    with seeded.db.session() as session:
        return users_q.get_user_by_name(session, username=username).role


def test_admin_adds_an_account_whose_password_works_once_shown(signed_in, seeded) -> None:
    at = signed_in("boss").switch_page("views/accounts.py").run()
    assert not at.exception, at.exception
    assert set(_table(at)) == {"boss (you)", "mod"}
    assert _table(at)["boss (you)"]["last sign-in"].endswith(" UTC")  # the sign-in above
    assert _table(at)["mod"]["last sign-in"] == "never"
    at.text_input(key="accounts_new_name").input("lee")
    at.selectbox(key="accounts_new_role").set_value("lead")
    at = _click(at, "Add account")
    assert not at.error, at.error
    password = at.code[0].value
    assert auth.authenticate(seeded.db, "lee", password).user.role == "lead"
    assert _table(at)["lee"]["role"] == "lead"  # listed in the same run
    with seeded.db.session() as session:
        [added] = audit.list_audit(session, action=AuditAction.USER_ADDED, limit=1)
    assert added.username == "boss" and password not in added.detail_json
    at = at.run()  # shown once: the next run no longer has it
    assert not at.code
    at.text_input(key="accounts_new_name").input("lee")
    at = _click(at, "Add account")
    assert "already exists" in at.error[0].value and not at.exception


def test_admin_changes_a_role_disables_enables_and_resets(signed_in, seeded) -> None:
    mod_session = auth.authenticate(seeded.db, "mod", PASSWORD).token
    at = signed_in("boss").switch_page("views/accounts.py").run()
    at.selectbox(key="accounts_chosen").set_value("mod").run()
    at.selectbox(key="accounts_role_mod").set_value("lead").run()
    at = _click(at, "Save role")
    assert _role_of(seeded, "mod") == "lead" and _table(at)["mod"]["role"] == "lead"
    at = _click(at, "Disable (signs it out everywhere)")
    assert _table(at)["mod"]["status"] == "disabled"
    assert auth.resolve_session(seeded.db, mod_session) is None
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(seeded.db, "mod", PASSWORD)
    at = _click(at, "Enable")
    assert _table(at)["mod"]["status"] == "active"
    at = _click(at, "Reset password")
    new_password = at.code[0].value
    assert auth.authenticate(seeded.db, "mod", new_password).user.role == "lead"
    with pytest.raises(InvalidCredentialsError):
        auth.authenticate(seeded.db, "mod", PASSWORD)


def test_admin_renames_an_account_which_stays_signed_in_and_chosen(signed_in, seeded) -> None:
    mod_session = auth.authenticate(seeded.db, "mod", PASSWORD).token
    at = signed_in("boss").switch_page("views/accounts.py").run()
    at.selectbox(key="accounts_chosen").set_value("mod").run()
    at.text_input(key="accounts_rename_mod_to").input("boss")
    at = _click(at, "Rename")
    assert "already exists" in at.error[0].value and not at.exception
    at.text_input(key="accounts_rename_mod_to").input(" mo@new.example ")
    at = _click(at, "Rename")
    assert not at.error and not at.exception, at.error
    assert set(_table(at)) == {"boss (you)", "mo@new.example"}
    assert at.selectbox(key="accounts_chosen").value == "mo@new.example"  # still the one chosen
    assert auth.resolve_session(seeded.db, mod_session).username == "mo@new.example"
    assert auth.authenticate(seeded.db, "mo@new.example", PASSWORD).user.role == "moderator"
    with seeded.db.session() as session:
        [renamed] = audit.list_audit(session, action=AuditAction.USER_RENAMED)
    assert renamed.username == "boss" and '"from": "mod"' in renamed.detail_json


def test_the_only_admin_cannot_demote_or_disable_itself(signed_in, seeded) -> None:
    at = signed_in("boss").switch_page("views/accounts.py").run()
    at.selectbox(key="accounts_chosen").set_value("boss").run()
    at.selectbox(key="accounts_role_boss").set_value("moderator").run()
    at = _click(at, "Save role")
    assert "only admin who can sign in" in at.error[0].value and not at.exception
    at = _click(at, "Disable (signs it out everywhere)")
    assert "only admin who can sign in" in at.error[0].value
    assert _role_of(seeded, "boss") == "admin" and _table(at)["boss (you)"]["status"] == "active"


def test_moderators_do_not_get_the_accounts_page(signed_in) -> None:
    at = signed_in("mod")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/accounts.py")


def _change(at: AppTest, current: str, new: str, repeated: str | None = None) -> AppTest:
    at.text_input(key="password_current").input(current)
    at.text_input(key="password_new").input(new)
    at.text_input(key="password_repeated").input(new if repeated is None else repeated)
    return _click(at, "Change password")


def test_a_moderator_changes_their_own_password(signed_in, seeded) -> None:
    elsewhere = auth.authenticate(seeded.db, "mod", PASSWORD).token
    at = signed_in("mod").switch_page("views/password.py").run()
    assert not at.exception, at.exception
    at = _change(at, PASSWORD, "the new one, long", "a typo")
    assert "differ" in at.error[0].value
    at = _change(at, "not my password", "the new one, long")
    assert "invalid username or password" in at.error[0].value
    at = _change(at, PASSWORD, "short")
    assert "at least 8" in at.error[0].value
    at = _change(at, PASSWORD, "the new one, long")
    assert not at.error and "Password changed" in at.success[0].value
    assert auth.resolve_session(seeded.db, elsewhere) is None  # other sessions ended
    assert auth.authenticate(seeded.db, "mod", "the new one, long").user.username == "mod"
    at = at.switch_page("views/queue.py").run()  # this session goes on
    assert not at.exception and not at.error


def test_admin_sets_the_languages_an_account_reviews(signed_in, seeded) -> None:
    with seeded.db.session() as session:
        videos.set_spoken_language(
            session, video_id=seeded.video_ids[0], language="ru", probability=0.9
        )
    at = signed_in("boss").switch_page("views/accounts.py").run()
    at.selectbox(key="accounts_chosen").set_value("mod").run()
    codes = at.multiselect(key="accounts_languages_mod_codes")
    assert codes.options == ["ru"]  # detected so far; others can be typed
    codes.set_value(["ru", "de"])
    at = _click(at, "Save languages")
    assert not at.error, at.error
    assert _table(at)["mod"]["languages"] == "de, ru"
    moderator = signed_in("mod")  # the queue says what Review next gives
    assert any("spoken in de, ru" in c.value for c in moderator.caption)
    at.multiselect(key="accounts_languages_mod_codes").set_value(["German"])
    at = _click(at, "Save languages")
    assert "not a language code" in at.error[0].value and "german" in at.error[0].value


def test_a_moderator_signs_out_of_every_other_browser(signed_in, seeded) -> None:
    laptop = auth.authenticate(seeded.db, "mod", PASSWORD).token
    at = signed_in("mod").switch_page("views/password.py").run()
    at = _click(at, "Sign out everywhere else")
    assert "Signed out of 1 other session;" in at.success[0].value
    assert auth.resolve_session(seeded.db, laptop) is None
    at = at.switch_page("views/queue.py").run()  # this session goes on
    assert not at.exception and not at.error


def test_admin_makes_an_account_forget_its_single_sign_on_identity(signed_in, seeded) -> None:
    with seeded.db.session() as session:
        mod = users_q.get_user_by_name(session, username="mod")
        users_q.bind_sso_identity(session, user_id=mod.id, identity="https://idp.test s-1")
    at = signed_in("boss").switch_page("views/accounts.py").run()
    assert _table(at)["mod"]["single sign-on"] == "bound"
    assert "Forget its single sign-on identity" not in [b.label for b in at.button]  # boss: none
    at.selectbox(key="accounts_chosen").set_value("mod").run()
    at = _click(at, "Forget its single sign-on identity")
    assert not at.error and not at.exception, at.error
    assert _table(at)["mod"]["single sign-on"] == ""
    with seeded.db.session() as session:
        assert users_q.get_user_by_name(session, username="mod").sso_identity is None
        [forgotten] = audit.list_audit(session, action=AuditAction.SSO_UNBOUND, limit=1)
    assert forgotten.username == "boss"


def test_an_account_of_the_provider_is_told_where_its_password_lives(
    signed_in, seeded, monkeypatch
) -> None:
    with seeded.db.session() as session:
        mod = users_q.get_user_by_name(session, username="mod")
        users_q.bind_sso_identity(session, user_id=mod.id, identity="https://idp.test s-1")
    monkeypatch.setenv("TAGGER_OIDC_ISSUER", "https://idp.test")
    monkeypatch.setenv("TAGGER_OIDC_CLIENT_ID", "tagger")
    monkeypatch.setenv("TAGGER_OIDC_NAME", "Okta")
    get_settings.cache_clear()
    at = signed_in("mod").switch_page("views/password.py").run()
    assert at.info[0].value.startswith("You sign in with Okta: your password is changed there.")
    assert "without it" in at.info[0].value and at.text_input(key="password_current")
    monkeypatch.setenv("TAGGER_PASSWORD_SIGNIN", "false")
    get_settings.cache_clear()
    at = at.run()
    assert "without it" not in at.info[0].value
    assert not at.text_input and [b.label for b in at.button] == ["Sign out everywhere else"]
