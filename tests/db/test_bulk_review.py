"""Sweep candidates, binary questions and bulk claims (DuckDB and PostgreSQL)."""

from __future__ import annotations

import pytest

from core import review as review_rules
from db.engine import Database
from db.queries import audit, bulk_review, review, taxonomy, users, videos
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.queries.videos import PredictionSummary
from db.tables import NO_SPEECH, AuditAction, TaxonomyNode, VideoStatus

# a DAG: "Ball games" is a second parent of Soccer
NODES = [
    ("s", "Sports", None, "Sports", 1, 0),
    ("b", "Ball games", None, "Ball games", 1, 1),
    ("s.soc", "Soccer", "s", "Sports: Soccer", 2, 2),
    ("m", "Music", None, "Music", 1, 3),
]
EDGES = [("s", "s.soc"), ("b", "s.soc")]
# video index -> (P(soccer), soccer predicted?, P(music), music predicted?)
PROBS = [(0.95, True, 0.1, False), (0.55, True, 0.2, False), (0.42, False, 0.9, True)]
PROBS += [(0.7, True, 0.62, True), (0.2, False, 0.4, False)]


def _seed(db: Database) -> dict:
    with db.session() as s:
        taxonomy.replace_taxonomy(
            s,
            nodes=[
                TaxonomyNode(id=i, name=n, parent_id=p, path=pa, level=lv, sort_key=k)
                for i, n, p, pa, lv, k in NODES
            ],
            edges=EDGES,
        )
        alice = users.create_user(s, username="alice", password_hash="x")
        bob = users.create_user(s, username="bob", password_hash="x")
        model = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        models.finish_model_version(s, model_version_id=model.id, status="ready")
        ids = [
            videos.create_video(s, title=f"clip {i}", status=VideoStatus.READY).id
            for i in range(len(PROBS))
        ]
        rows = []
        for vid, (p_soc, soc, p_mus, mus) in zip(ids, PROBS, strict=True):
            rows += [
                PredictionRow(vid, "s", max(p_soc, 0.5), True),
                PredictionRow(vid, "s.soc", p_soc, soc),
                PredictionRow(vid, "m", p_mus, mus),
            ]
        models.put_predictions(s, model_version_id=model.id, rows=rows)
        videos.set_prediction_summaries(
            s,
            model_version_id=model.id,
            summaries=[PredictionSummary(v, 0.5, "s.soc") for v in ids],
        )
        videos.replace_keyframes(s, video_id=ids[0], frames=[(1.0, "t/a0.jpg"), (2.0, "t/a1.jpg")])
    return {"ids": ids, "alice": alice, "bob": bob}


def test_sweep_is_dag_aware_ordered_and_skips_reviewed_and_others_claims(database) -> None:
    seed = _seed(database)
    ids, alice, bob = seed["ids"], seed["alice"], seed["bob"]
    with database.session() as s:
        # through the second parent: Soccer is below "Ball games"
        doubtful = bulk_review.sweep_candidates(s, node_id="b", user=alice)
        confident = bulk_review.sweep_candidates(s, node_id="b", user=alice, order="confident")
    assert [i.video_id for i in doubtful] == [ids[1], ids[3], ids[0]]  # 0.55, 0.7, 0.95
    assert [i.video_id for i in confident] == [ids[0], ids[3], ids[1]]
    assert doubtful[2].thumbnail == "t/a0.jpg" and doubtful[0].thumbnail is None
    with database.session() as s:
        review_rules.claim_video(s, video_id=ids[3], user=bob, claim_minutes=20)
        review_rules.save_review(
            s, video_id=ids[0], expected_version=0, node_ids=["s.soc"], user=bob
        )
        left = bulk_review.sweep_candidates(s, node_id="s.soc", user=alice)
        mine = bulk_review.sweep_candidates(s, node_id="s.soc", user=bob, exclude_ids=[ids[1]])
    assert [i.video_id for i in left] == [ids[1]]  # reviewed and bob's claim are left out
    assert [i.video_id for i in mine] == [ids[3]]  # his own claim is his to sweep


def test_binary_questions_closest_to_the_threshold_first_one_per_video(database) -> None:
    seed = _seed(database)
    ids, alice = seed["ids"], seed["alice"]
    with database.session() as s:
        questions = bulk_review.binary_questions(s, user=alice)
        soccer_only = bulk_review.binary_questions(s, user=alice, node_id="s.soc", limit=2)
        skipping = bulk_review.binary_questions(s, user=alice, exclude_ids=[ids[1], ids[2]])
    # thresholds read from the decisions: soccer (0.55 + 0.42) / 2, music (0.62 + 0.4) / 2;
    # Sports is predicted for every video, so there is no gap to read and it is never asked
    asked = [(q.video_id, q.node_id) for q in questions]
    assert set(asked[:2]) == {(ids[1], "s.soc"), (ids[2], "s.soc")}  # 0.065 from 0.485
    assert set(asked[2:4]) == {(ids[3], "m"), (ids[4], "m")}  # 0.11 from 0.51
    assert asked[4] == (ids[0], "m")  # 0.41 (its soccer question is 0.465 away)
    assert abs(questions[0].threshold - 0.485) < 1e-9
    assert {(q.video_id, q.node_id) for q in soccer_only} == {(ids[1], "s.soc"), (ids[2], "s.soc")}
    assert ids[1] not in {q.video_id for q in skipping} and len(skipping) == 3


def test_claim_videos_takes_only_free_ones_and_audits_new_claims(database) -> None:
    seed = _seed(database)
    ids, alice, bob = seed["ids"], seed["alice"], seed["bob"]
    with database.session() as s:
        review_rules.claim_video(s, video_id=ids[0], user=bob, claim_minutes=20)
        review_rules.claim_video(s, video_id=ids[1], user=alice, claim_minutes=20)
        review_rules.claim_video(s, video_id=ids[2], user=bob, claim_minutes=-1)  # already expired
        held = review.claim_videos(s, video_ids=ids[:3], user=alice, claim_minutes=20)
        claims = audit.list_audit(s, action=AuditAction.CLAIM, user_id=alice.id)
        assert review.claim_videos(s, video_ids=[], user=alice, claim_minutes=20) == []
    assert held == [ids[1], ids[2]]  # bob's active claim stays his; his expired one is taken
    assert [a.video_id for a in claims] == [ids[2]]  # a renewal is not a new claim


def test_sweep_rejects_an_unknown_order(database) -> None:
    seed = _seed(database)
    with database.session() as s, pytest.raises(ValueError, match="doubtful"):
        bulk_review.sweep_candidates(s, node_id="s", user=seed["alice"], order="random")


def test_an_account_with_review_languages_gets_only_videos_it_can_judge(database) -> None:
    """Review next, the sweep and binary mode route by spoken language: a German speaker gets
    German videos and those with no language detected or no speech, never Russian or English;
    opening a video on purpose stays possible, and an account without languages gets all."""
    seed = _seed(database)
    ids, alice, bob = seed["ids"], seed["alice"], seed["bob"]
    spoken = [None, "de", "ru", NO_SPEECH, "en"]
    with database.session() as s:
        for video_id, language in zip(ids, spoken, strict=True):
            videos.set_spoken_language(s, video_id=video_id, language=language, probability=0.9)
        users.set_languages(s, user_id=alice.id, languages=["de"])

    def queue_of(user) -> set[int]:
        taken: list[int] = []
        while True:
            with database.session() as s:
                video = review_rules.claim_next(s, user=user, claim_minutes=20, exclude_ids=taken)
            if video is None:
                return set(taken)
            taken.append(video.id)

    with database.session() as s:
        assert len(bulk_review.binary_questions(s, user=bob)) == len(ids)  # bob: any language
    german = {ids[0], ids[1], ids[3]}
    assert queue_of(alice) == german
    with database.session() as s:
        swept = {i.video_id for i in bulk_review.sweep_candidates(s, node_id="s", user=alice)}
        asked = {q.video_id for q in bulk_review.binary_questions(s, user=alice)}
        assert review_rules.claim_video(s, video_id=ids[2], user=alice, claim_minutes=20)
        assert videos.spoken_languages(s) == ["de", "en", "ru"]
    assert swept == german and asked == german
    with database.session() as s:
        users.set_languages(s, user_id=alice.id, languages=[])  # any language again
        asked = {q.video_id for q in bulk_review.binary_questions(s, user=alice)}
    assert asked == set(ids)
