"""Binary mode's routes under Starlette's TestClient: questions most informative first, answers
that land as ordinary reviews, the claim of the next question, refusals in words, and who may
call them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core import auth, bulk_review, quality, removal
from core import taxonomy as taxonomy_core
from dashboard.routes import binary, session
from db.engine import DatabaseBusyError
from db.queries import audit, labels, users, videos
from db.queries import model_versions as models
from db.queries import quality as quality_q
from db.queries.model_versions import PredictionRow
from db.tables import AuditAction, VideoStatus, utcnow
from tests.dashboard.conftest import PASSWORD

TAX = taxonomy_core.load_iab3()
SPORTS, SOCCER = TAX.find("Sports").id, TAX.find("Sports: Soccer").id
ART = TAX.find("Fine Art").id
# Fine Art per seeded video: the model said yes only for the third; its threshold reads as
# (0.8 + 0.45) / 2 = 0.625, so the second and third videos are the closest (0.175), then the
# first (0.325), then the fourth (0.525). Sports and Soccer are predicted for every video: no
# threshold can be read for them, so they are never asked.
ART_P = [(0.3, False), (0.45, False), (0.8, True), (0.1, False)]
SAME_SITE = {"Origin": "http://testserver"}


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


@pytest.fixture
def client(questions) -> TestClient:
    return TestClient(Starlette(routes=binary.routes), base_url="http://testserver")


def _sign_in(client: TestClient, seeded, username: str = "mod") -> str:
    token = auth.authenticate(seeded.db, username, PASSWORD).token
    client.cookies.set(session.COOKIE, token)
    return token


def _read(client: TestClient, **params) -> list[dict]:
    response = client.get(binary.QUESTIONS_PATH, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def _post(client: TestClient, question: dict, answer: str, then_claim: int | None = None):
    return client.post(
        binary.ANSWERS_PATH,
        json={
            "video_id": question["video_id"],
            "version": question["version"],
            "answer": answer,
            "node_ids": None if answer == "skip" else question[answer],
            "then_claim": then_claim,
        },
        headers=SAME_SITE,
    )


def _human(seeded, video_id: int) -> list[str]:
    with seeded.db.session() as s:
        return sorted(
            lab.node_id for lab in labels.get_labels(s, video_id=video_id, source="human")
        )


def _claimer(seeded, video_id: int) -> int | None:
    with seeded.db.session() as s:
        return videos.get_video(s, video_id=video_id).claimed_by


def test_questions_come_most_informative_first_with_what_each_answer_saves(
    client, questions
) -> None:
    _sign_in(client, questions)
    ids = questions.video_ids
    read = _read(client, claim_first="1")
    assert [q["video_id"] for q in read[:2]] in ([ids[1], ids[2]], [ids[2], ids[1]])
    assert [q["video_id"] for q in read[2:]] == [ids[0], ids[3]]
    first = read[0]
    assert first["tag"] == "Fine Art"
    assert first["threshold"] == pytest.approx(0.625)
    # yes: the review form's starting tags (the suggestion Soccer) plus Fine Art; no: without it
    assert first["yes"] == sorted([SOCCER, ART]) and first["no"] == [SOCCER]
    assert first["others"] == [node.path for node in TAX.nodes if node.id == SOCCER]
    assert first["preview"] is None  # no media file stored for the seeded videos
    assert _claimer(questions, first["video_id"]) is not None  # claim_first
    assert all(_claimer(questions, q["video_id"]) is None for q in read[1:])
    later = _read(client, exclude=",".join(str(q["video_id"]) for q in read[:3]))
    assert [q["video_id"] for q in later] == [ids[3]]


def test_answers_land_as_reviews_and_claim_the_next_question(client, questions) -> None:
    _sign_in(client, questions)
    first, second, third, fourth = _read(client, claim_first="1")
    response = _post(client, first, "yes", then_claim=second["video_id"])
    assert response.json() == {"saved": True, "claimed": True}
    assert _post(client, second, "no", then_claim=third["video_id"]).json()["saved"]
    skipped = _post(client, third, "skip")
    assert skipped.json() == {"saved": False, "claimed": False}

    assert _human(questions, first["video_id"]) == sorted([SOCCER, ART])
    assert _human(questions, second["video_id"]) == [SOCCER]
    with questions.db.session() as s:
        for question in (first, second):
            video = videos.get_video(s, video_id=question["video_id"])
            assert video.status == VideoStatus.REVIEWED
            assert audit.list_audit(
                s, video_id=question["video_id"], action=AuditAction.REVIEW_SAVED
            )
        video = videos.get_video(s, video_id=third["video_id"])
        assert video.status == VideoStatus.PREDICTED and video.claimed_by is None
        assert audit.list_audit(s, video_id=third["video_id"], action=AuditAction.RELEASE)
    # answered videos are never asked again; a skipped one is left out by the page's own list
    assert {q["video_id"] for q in _read(client)} == {third["video_id"], fourth["video_id"]}


def test_a_question_held_by_someone_else_is_not_asked_or_claimed(client, questions) -> None:
    boss = TestClient(client.app, base_url="http://testserver")
    _sign_in(boss, questions, "boss")
    held = _read(boss, claim_first="1")[0]["video_id"]
    _sign_in(client, questions)
    read = _read(client, claim_first="1")
    assert held not in [q["video_id"] for q in read]
    answer = _post(client, read[0], "yes", then_claim=held)  # asked next by a stale queue
    assert answer.json() == {"saved": True, "claimed": False}


def test_a_refused_answer_says_why_and_releases_its_video(client, questions) -> None:
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    with questions.db.session() as s:  # saved by someone else meanwhile
        s.exec(
            text("UPDATE video SET version = version + 1 WHERE id = :id"),
            params={"id": first["video_id"]},
        )
    response = _post(client, first, "yes")
    assert response.status_code == 409
    assert "changed" in response.json()["detail"] or "version" in response.json()["detail"]
    assert _human(questions, first["video_id"]) == []
    assert _claimer(questions, first["video_id"]) is None


def test_a_busy_database_writes_nothing_and_says_so(client, questions, monkeypatch) -> None:
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]

    def busy(*args, **kwargs):
        raise DatabaseBusyError("database x is busy: another process held it for over 120 s")

    monkeypatch.setattr(bulk_review, "save_reviews", busy)
    response = _post(client, first, "yes")
    assert response.status_code == 503
    assert "busy" in response.json()["detail"]
    assert _human(questions, first["video_id"]) == []


def test_without_a_live_session_nothing_is_read_or_written(client, questions) -> None:
    assert client.get(binary.QUESTIONS_PATH).status_code == 401
    assert client.get(binary.QUESTIONS_PATH, params={"scope": "no-such-tag"}).status_code == 401
    token = _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    auth.logout(questions.db, token)
    response = _post(client, first, "yes")
    assert response.status_code == 401
    assert "sign in" in response.json()["detail"]
    assert session.COOKIE not in response.cookies or not response.cookies[session.COOKIE]
    assert _human(questions, first["video_id"]) == []


def test_a_disabled_account_is_refused(client, questions) -> None:
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    with questions.db.session() as s:
        user = users.get_user_by_name(s, username="mod")
        users.update_user(s, user_id=user.id, disabled=True)
    assert _post(client, first, "yes").status_code == 403
    assert client.get(binary.QUESTIONS_PATH).status_code == 403


def test_cross_site_and_malformed_answers_are_refused(client, questions) -> None:
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    body = {"video_id": first["video_id"], "version": first["version"], "answer": "yes"}
    cross_site = client.post(
        binary.ANSWERS_PATH,
        json={**body, "node_ids": first["yes"]},
        headers={"Origin": "http://evil.example"},
    )
    assert cross_site.status_code == 403
    form = client.post(binary.ANSWERS_PATH, data={"video_id": "1"}, headers=SAME_SITE)
    assert form.status_code == 415
    unknown_field = client.post(
        binary.ANSWERS_PATH, json={**body, "node_ids": [], "admin": True}, headers=SAME_SITE
    )
    assert unknown_field.status_code == 422
    without_labels = client.post(binary.ANSWERS_PATH, json=body, headers=SAME_SITE)
    assert without_labels.status_code == 422
    assert "node_ids" in without_labels.json()["detail"]
    unknown_tag = client.post(
        binary.ANSWERS_PATH, json={**body, "node_ids": ["no-such-tag"]}, headers=SAME_SITE
    )
    assert unknown_tag.status_code == 422
    assert _human(questions, first["video_id"]) == []
    assert client.get(binary.QUESTIONS_PATH, params={"scope": "no-such-tag"}).status_code == 422
    assert client.get(binary.QUESTIONS_PATH, params={"exclude": "1,x"}).status_code == 422


def test_a_scope_limits_the_questions_to_its_subtree(client, questions) -> None:
    _sign_in(client, questions)
    assert _read(client, scope=SPORTS) == []  # predicted everywhere: nothing to ask
    assert {q["tag"] for q in _read(client, scope=ART)} == {"Fine Art"}


def test_an_expired_session_is_refused(client, questions) -> None:
    token = _sign_in(client, questions)
    with questions.db.session() as s:
        row = users.get_user_session(s, token_hash=auth._token_hash(token))
        row.expires_at = utcnow() - timedelta(minutes=1)
        s.add(row)
    assert client.get(binary.QUESTIONS_PATH).status_code == 401


def test_an_overlap_video_is_answered_blind_as_on_the_review_page(client, questions) -> None:
    """Label quality: a video in the overlap share gets this moderator's blind answer, not
    labels, until the overlap's moderators agree (the same rule as the review page's save)."""
    with questions.db.session() as s:
        quality.set_overlap(s, share=1.0, moderators=2, user=None)
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    assert _post(client, first, "yes").json()["saved"]
    assert _human(questions, first["video_id"]) == []
    with questions.db.session() as s:
        answers = quality_q.answers_by_user(s, video_id=first["video_id"])
        assert list(answers.values()) == [first["yes"]]
        assert videos.get_video(s, video_id=first["video_id"]).status == VideoStatus.PREDICTED


def test_an_answer_about_a_removed_video_is_refused_in_words(client, questions) -> None:
    """An admin removed the video while its question was on screen: the answer is refused, the
    next question still comes."""
    _sign_in(client, questions)
    first = _read(client, claim_first="1")[0]
    removal.remove_video(
        questions.db,
        settings=questions.settings,
        video_id=first["video_id"],
        user=None,
        reason="takedown",
    )
    response = _post(client, first, "yes")
    assert response.status_code == 409
    assert response.json()["detail"].endswith(f"no video with id {first['video_id']}")
