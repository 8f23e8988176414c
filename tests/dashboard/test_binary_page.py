"""Binary page: it picks the scope and mounts the question card, whose queue lives in the browser
(answers and reads: tests/dashboard/routes/test_binary.py; keys in a real browser:
tests/dashboard/test_e2e_binary.py)."""

from __future__ import annotations

import json

from core import taxonomy as taxonomy_core
from dashboard.routes import binary

ART = taxonomy_core.load_iab3().find("Fine Art").id


def _card(at) -> dict:
    (card,) = at.get("bidi_component")
    assert card.proto.component_name == "tagger.binary_questions"
    return json.loads(card.proto.json)


def test_the_card_reads_and_answers_through_the_binary_routes(signed_in, seeded) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    assert not at.exception, at.exception
    card = _card(at)
    assert card["scope"] is None
    assert card["questions_url"] == binary.QUESTIONS_PATH
    assert card["answers_url"] == binary.ANSWERS_PATH
    legend = " ".join(c.value for c in at.caption)
    assert "`A` yes" in legend and "`X` no" in legend and "`N` skip" in legend


def test_a_rerun_resumes_the_browsers_queue_and_a_new_scope_starts_another(
    signed_in, seeded
) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    first = _card(at)["batch"]
    at.run()
    assert _card(at)["batch"] == first  # the browser keeps answering where it is
    at.selectbox(key="binary_scope").set_value(ART).run()
    scoped = _card(at)
    assert scoped["scope"] == ART and scoped["batch"] != first
    at.selectbox(key="binary_scope").set_value(None).run()
    assert _card(at)["batch"] not in (first, scoped["batch"])


def test_the_page_opens_no_database_session_of_its_own(signed_in, seeded, monkeypatch) -> None:
    """Questions are read by the card, in the background: the page's run only draws it."""
    from db.engine import Database

    at = signed_in("mod").switch_page("views/binary.py").run()
    opened: list[str] = []
    session = Database.session

    def recorded(self):
        opened.append("session")
        return session(self)

    monkeypatch.setattr(Database, "session", recorded)
    at.selectbox(key="binary_scope").set_value(ART).run()
    assert not at.exception, at.exception
    assert len(opened) <= 1, opened  # the router's check of the signed-in user, nothing else
