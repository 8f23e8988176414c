"""API access page (admins): create a token (secret shown once, stored hashed), revoke it, add a
webhook and see the delivery log; moderators do not get the page."""

from __future__ import annotations

import pytest

from core import tokens
from db.queries import tokens as tokens_q
from db.queries import webhooks as webhooks_q


def _click(at, label: str):
    return at.button[[b.label for b in at.button].index(label)].click().run()


def test_admin_creates_and_revokes_a_token(signed_in, seeded) -> None:
    at = signed_in("boss").switch_page("views/api_access.py").run()
    assert not at.exception, at.exception
    empty = ["No API tokens yet.", "No webhooks yet.", "No webhook deliveries yet."]
    assert [c.value for c in at.caption if c.value in empty] == empty and not at.dataframe
    at.text_input(key="api_token_name").input("platform")
    at.selectbox(key="api_token_account").set_value("mod")
    at.selectbox(key="api_token_scope").set_value("write")
    at = _click(at, "Create token")
    assert not at.error, at.error
    secret = at.code[0].value
    assert secret.startswith(tokens.TOKEN_PREFIX)
    principal = tokens.resolve_token(seeded.db, secret, cache_s=0)
    assert (principal.username, principal.scope) == ("mod", "write")
    assert list(at.dataframe[0].value["name"]) == ["platform"]
    with seeded.db.session() as session:
        [stored] = tokens_q.list_tokens(session)
    assert stored.token_hash == tokens.hash_secret(secret)
    at.text_input(key="api_token_name").input("other")  # a refused scope: one line, no traceback
    at.selectbox(key="api_token_account").set_value("mod")
    at.selectbox(key="api_token_scope").set_value("admin")
    at = _click(at, "Create token")
    assert "at most the write scope" in at.error[0].value
    at.selectbox(key="api_token_revoke").set_value("platform")
    at = _click(at, "Revoke")
    assert tokens.resolve_token(seeded.db, secret, cache_s=0) is None


def test_admin_adds_a_webhook_and_sees_the_log(signed_in, seeded) -> None:
    at = signed_in("boss").switch_page("views/api_access.py").run()
    at.text_input(key="api_webhook_url").input("ftp://nope")
    at = _click(at, "Add webhook")
    assert "webhook URL must be http" in at.error[0].value
    at.text_input(key="api_webhook_url").input("https://platform.example/hook")
    at = _click(at, "Add webhook")
    assert not at.error and len(at.code[0].value) >= 16
    with seeded.db.session() as session:
        [subscriber] = webhooks_q.list_subscribers(session)
    assert subscriber.secret == at.code[0].value
    assert not at.exception


def test_moderators_do_not_get_the_page(signed_in) -> None:
    at = signed_in("mod")
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("views/api_access.py")
