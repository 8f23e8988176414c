"""Binary page: one question at a time, most informative first; yes / no / skip land as
ordinary reviews."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from core import auth
from core import taxonomy as taxonomy_core
from dashboard import actions, deferred, review_data, state
from db.engine import Database, DatabaseBusyError
from db.queries import audit, labels, videos
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.tables import AuditAction, VideoStatus

TAX = taxonomy_core.load_iab3()
SPORTS, SOCCER = TAX.find("Sports").id, TAX.find("Sports: Soccer").id
ART = TAX.find("Fine Art").id
# Fine Art per seeded video: the model said yes only for the third; its threshold reads as
# (0.8 + 0.45) / 2 = 0.625, so the second and third videos are the closest (0.175), then the
# first (0.325), then the fourth (0.525). Sports and Soccer are predicted for every video: no
# threshold can be read for them, so they are never asked.
ART_P = [(0.3, False), (0.45, False), (0.8, True), (0.1, False)]


@pytest.fixture
def questions(seeded):
    rows = []
    for vid, (p, yes) in zip(seeded.video_ids, ART_P, strict=True):
        rows += [
            PredictionRow(vid, SPORTS, 0.95, True),
            PredictionRow(vid, SOCCER, 0.9, True),
            PredictionRow(vid, ART, p, yes),
        ]
    with seeded.db.session() as s:
        models.put_predictions(s, model_version_id=seeded.model_id, rows=rows)
    return seeded


def _human(seeded, video_id: int) -> list[str]:
    with seeded.db.session() as s:
        return sorted(
            lab.node_id for lab in labels.get_labels(s, video_id=video_id, source="human")
        )


def _written(at) -> None:
    """Wait for the answers the session's worker has been handed (written after the page)."""
    at.session_state[deferred.WORK].wait(timeout_s=30)


def _asked(at) -> tuple[int, str]:
    ask = at.session_state["binary_queue"]["questions"][0].ask
    return ask.video_id, ask.node_id


def test_answers_land_as_labels_in_order_of_information(signed_in, questions) -> None:
    ids = questions.video_ids
    at = signed_in("mod").switch_page("views/binary.py").run()
    assert not at.exception, at.exception
    first = _asked(at)
    assert first in {(ids[1], ART), (ids[2], ART)}
    assert "Fine Art" in at.subheader[0].value
    at.button(key="binary_yes").click().run()
    second = _asked(at)
    assert {first, second} == {(ids[1], ART), (ids[2], ART)}
    at.button(key="binary_no").click().run()
    assert _asked(at) == (ids[0], ART)
    at.button(key="binary_skip").click().run()
    assert _asked(at) == (ids[3], ART)
    _written(at)

    # yes: the review form's starting tags (the suggestion Soccer) plus Fine Art
    assert _human(questions, first[0]) == sorted([SOCCER, ART])
    # no: the starting tags without Fine Art
    assert _human(questions, second[0]) == [SOCCER]
    with questions.db.session() as s:
        for vid in (first[0], second[0]):
            assert videos.get_video(s, video_id=vid).status == VideoStatus.REVIEWED
            assert audit.list_audit(s, video_id=vid, action=AuditAction.REVIEW_SAVED)
        skipped = videos.get_video(s, video_id=ids[0])
        assert skipped.status == VideoStatus.PREDICTED and skipped.claimed_by is None
        assert audit.list_audit(s, video_id=ids[0], action=AuditAction.RELEASE)


def test_the_video_asked_about_is_held_and_others_claims_are_respected(
    signed_in, questions
) -> None:
    ids = questions.video_ids
    boss = signed_in("boss").switch_page("views/binary.py").run()
    held = _asked(boss)[0]
    at = signed_in("mod").switch_page("views/binary.py").run()
    assert _asked(at)[0] != held
    with questions.db.session() as s:
        assert videos.get_video(s, video_id=held).claimed_by is not None
    assert held in ids


def test_keys_are_shown(signed_in, questions) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    legend = " ".join(c.value for c in at.caption)
    assert "`A` yes" in legend and "`X` no" in legend and "`N` skip" in legend


def test_an_answers_run_does_not_open_the_database(signed_in, questions, monkeypatch) -> None:
    """The answer is written by the session's worker, which checks the session itself: the
    run that shows the next question neither writes nor reads the user (it would queue for the
    database behind that write); the next run without an answer reads the user again, so a
    session ended meanwhile still ends."""
    reads: list[str] = []
    resolve_session = auth.resolve_session

    def counted(db, token, **kwargs):
        reads.append(token)
        return resolve_session(db, token, **kwargs)

    opened_by: list[str] = []
    session = Database.session

    def recorded(self):
        opened_by.append(threading.current_thread().name)
        return session(self)

    monkeypatch.setattr(auth, "resolve_session", counted)
    at = signed_in("mod").switch_page("views/binary.py").run()
    _written(at)
    reads.clear()
    at.run()
    assert len(reads) == 1  # a run without an action reads the user
    first = _asked(at)
    monkeypatch.setattr(Database, "session", recorded)
    at.button(key="binary_yes").click().run()
    assert not at.exception, at.exception
    _written(at)
    assert _asked(at) != first
    assert len(reads) == 1  # the answer's run did not read it
    assert opened_by and all(name.startswith("deferred") for name in opened_by), opened_by
    assert _human(questions, first[0])  # written by the worker
    auth.logout(questions.db, at.session_state["auth_token"])
    at.run()
    assert len(reads) == 2
    assert [t.value for t in at.title] == ["Video tagger"]
    at.run()
    assert len(reads) == 2  # signed out: no token left to read


def test_an_answer_after_the_session_ended_is_not_saved(signed_in, questions) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    first = _asked(at)
    auth.logout(questions.db, at.session_state["auth_token"])
    at.button(key="binary_yes").click().run()  # shown at once: the write checks the session
    _written(at)
    assert _human(questions, first[0]) == []
    at.run()
    assert [t.value for t in at.title] == ["Video tagger"]  # the sign-in page


def test_the_session_is_read_again_when_its_last_check_is_old(
    signed_in, questions, monkeypatch
) -> None:
    """An answer's run relies on the write's check only shortly after a check found the
    session valid; after a long pause it reads the user again."""
    reads: list[str] = []
    resolve_session = auth.resolve_session
    monkeypatch.setattr(
        auth,
        "resolve_session",
        lambda db, token, **kw: reads.append(token) or resolve_session(db, token, **kw),
    )
    at = signed_in("mod").switch_page("views/binary.py").run()
    _written(at)
    at.session_state[state.CHECKED_AT] -= state.DEFERRED_CHECK_S + 1
    reads.clear()
    at.button(key="binary_yes").click().run()
    assert not at.exception, at.exception
    assert len(reads) == 1


def test_a_refused_answer_is_reported_and_its_video_released(signed_in, questions) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    video_id, _ = _asked(at)
    with questions.db.session() as s:  # saved by someone else meanwhile
        s.exec(
            text("UPDATE video SET version = version + 1 WHERE id = :id"), params={"id": video_id}
        )
    at.button(key="binary_yes").click().run()
    shown = [w.value for w in at.warning]  # reported by this run if written before it collected
    _written(at)
    at.run()
    _written(at)
    shown += [w.value for w in at.warning]
    assert any("Not saved" in w for w in shown), shown
    assert _human(questions, video_id) == []
    with questions.db.session() as s:
        assert videos.get_video(s, video_id=video_id).claimed_by is None
    assert _asked(at)[0] != video_id


def test_an_answer_that_could_not_be_written_is_asked_again(
    signed_in, questions, monkeypatch
) -> None:
    at = signed_in("mod").switch_page("views/binary.py").run()
    first = _asked(at)
    save = actions._save_reviews

    def busy_once(session, **kwargs):
        monkeypatch.setattr(actions, "_save_reviews", save)
        raise DatabaseBusyError("database x is busy: another process held it for over 120 s")

    monkeypatch.setattr(actions, "_save_reviews", busy_once)
    at.button(key="binary_yes").click().run()
    shown = [w.value for w in at.warning]  # reported by this run if written before it collected
    _written(at)
    at.run()
    shown += [w.value for w in at.warning]
    assert _asked(at) == first
    assert any("was not saved" in w and "busy" in w for w in shown), shown
    at.button(key="binary_yes").click().run()
    _written(at)
    assert _human(questions, first[0])


def test_more_questions_are_read_while_the_moderator_answers(
    signed_in, questions, monkeypatch
) -> None:
    """The read of the next questions runs in the session's worker: an answer's run does not
    wait for it, its questions join the queue once read, and the answer given meanwhile is
    written after it."""
    release = threading.Event()
    load_questions = review_data.load_questions
    calls = []

    def slow_after_the_first(*args, **kwargs):
        calls.append(kwargs["exclude_ids"])
        if len(calls) > 1:
            release.wait(timeout=20)
        return load_questions(*args, **kwargs)

    monkeypatch.setattr(review_data, "load_questions", slow_after_the_first)
    at = signed_in("mod").switch_page("views/binary.py").run()
    first = _asked(at)
    pending = at.session_state["binary_more"][1]  # 4 questions loaded, fewer than TOP_UP_AT
    at.button(key="binary_yes").click().run()
    assert not at.exception, at.exception
    assert _asked(at) != first  # answered and moved on
    assert not pending.done()  # while the read still runs
    assert sorted(calls[1]) == sorted(questions.video_ids)  # the loaded ones are not read again
    release.set()
    pending.result(timeout=20)
    _written(at)
    assert _human(questions, first[0])
    at.button(key="binary_no").click().run()
    assert at.session_state["binary_more"][1] is not pending  # taken; the next read started
