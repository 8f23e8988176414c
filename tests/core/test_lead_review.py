"""Lead review: sampling, accept / fix / reject, the reject-return loop, accuracy, roles."""

from __future__ import annotations

import pytest

from core import lead_review, quality
from core import review as review_rules
from core.quality import QualityPermissionError
from db.engine import Database
from db.queries import audit, users, videos
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.tables import AuditAction, VideoStatus, utcnow


@pytest.fixture
def reviewed(database: Database, taxonomy) -> dict:
    """Three videos reviewed by moderator ann (Sports: Soccer on each), a lead and an admin."""
    ids = {t.path: t.id for t in taxonomy.nodes}
    with database.session() as s:
        ann = users.create_user(s, username="ann", password_hash="x")
        lee = users.create_user(s, username="lee", password_hash="x", role="lead")
        clips = [
            videos.create_video(s, title=f"clip {i}", status=VideoStatus.READY).id for i in range(3)
        ]
        for clip in clips:
            review_rules.save_review(
                s, video_id=clip, expected_version=0, node_ids=[ids["Sports: Soccer"]], user=ann
            )
    return {"ann": ann, "lee": lee, "clips": clips, "ids": ids}


def test_moderators_cannot_judge(database: Database, reviewed: dict) -> None:
    ann, clip = reviewed["ann"], reviewed["clips"][0]
    with database.session() as s:
        for call in (
            lambda: lead_review.sample(s, user=ann, mode="random"),
            lambda: lead_review.accept(s, video_id=clip, user=ann),
            lambda: lead_review.fix(s, video_id=clip, expected_version=1, node_ids=[], user=ann),
            lambda: lead_review.reject(s, video_id=clip, comment="no", user=ann),
            lambda: lead_review.moderator_accuracy(s, user=ann),
        ):
            with pytest.raises(QualityPermissionError):
                call()


def test_random_sample_skips_judged_reviews(database: Database, reviewed: dict) -> None:
    lee, clips = reviewed["lee"], reviewed["clips"]
    with database.session() as s:
        assert {x.video_id for x in lead_review.sample(s, user=lee, mode="random")} == set(clips)
        lead_review.accept(s, video_id=clips[0], user=lee)
    with database.session() as s:
        sampled = lead_review.sample(s, user=lee, mode="random", n=10)
        assert {x.video_id for x in sampled} == set(clips[1:])
        assert sampled[0].moderator == "ann" and sampled[0].reason == "random"
        with pytest.raises(ValueError, match="expected one of"):
            lead_review.sample(s, user=lee, mode="worst")


def test_disagree_sample_follows_the_model(database: Database, reviewed: dict) -> None:
    lee, clips, ids = reviewed["lee"], reviewed["clips"], reviewed["ids"]
    with database.session() as s:
        model = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        models.finish_model_version(s, model_version_id=model.id, status="ready")
        rows = [PredictionRow(clips[1], ids["News"], 0.99, True)]
        rows += [PredictionRow(c, ids["Sports: Soccer"], 0.9, True) for c in clips]
        models.put_predictions(s, model_version_id=model.id, rows=rows)
        videos.set_prediction_summaries(
            s,
            model_version_id=model.id,
            summaries=[videos.PredictionSummary(c, 0.1, ids["Sports: Soccer"]) for c in clips],
        )
        for c in clips:  # a new prediction leaves reviewed videos reviewed
            assert videos.get_video(s, video_id=c).status == VideoStatus.REVIEWED
        sampled = lead_review.sample(s, user=lee, mode="disagree", model_version_id=model.id)
        others = lead_review.sample(
            s, user=lee, mode="disagree", model_version_id=model.id, moderator_id=lee.id
        )
    assert [x.video_id for x in sampled] == [clips[1]] and others == []  # lee reviewed none
    assert "News" in sampled[0].reason


def test_reject_returns_the_video_to_its_moderator(database: Database, reviewed: dict) -> None:
    ann, lee, clip = reviewed["ann"], reviewed["lee"], reviewed["clips"][0]
    with database.session() as s:
        with pytest.raises(ValueError, match="needs a comment"):
            lead_review.reject(s, video_id=clip, comment="  ", user=lee)
        lead_review.reject(s, video_id=clip, comment="it is golf", user=lee)
    with database.session() as s:
        video = videos.get_video(s, video_id=clip)
        assert video.status == VideoStatus.READY and video.flagged
        assert video.flag_reason == "rejected by lee: it is golf"
        assert (
            review_rules.effective_labels(s, video_ids=[clip]) == {}
        )  # no longer trains the model
        assert not quality.is_overlap_video(s, video_id=clip)
        # "review next" gives it to ann first, and to nobody else
        other = users.create_user(s, username="bob", password_hash="x")
        assert review_rules.claim_next(s, user=other, claim_minutes=20) is None
        again = review_rules.claim_next(s, user=ann, claim_minutes=20)
        assert again.id == clip
        golf = reviewed["ids"]["Sports: Golf"]
        review_rules.save_review(
            s, video_id=clip, expected_version=again.version, node_ids=[golf], user=ann
        )
    with database.session() as s:
        assert review_rules.effective_labels(s, video_ids=[clip]) == {clip: [golf]}
        # the redone review can be judged again
        assert clip in {x.video_id for x in lead_review.sample(s, user=lee, mode="random")}
        assert [e.action for e in audit.list_audit(s, video_id=clip)].count(
            AuditAction.LEAD_REVIEW
        ) == 1


def test_fix_and_accuracy(database: Database, reviewed: dict) -> None:
    lee, clips, ids = reviewed["lee"], reviewed["clips"], reviewed["ids"]
    with database.session() as s:
        lead_review.accept(s, video_id=clips[0], user=lee)
        video = videos.get_video(s, video_id=clips[1])
        lead_review.fix(
            s,
            video_id=clips[1],
            expected_version=video.version,
            node_ids=[ids["Sports: Soccer"], ids["News"]],
            user=lee,
        )
        lead_review.reject(s, video_id=clips[2], comment="wrong", user=lee)
    with database.session() as s:
        assert review_rules.effective_labels(s, video_ids=[clips[1]])[clips[1]] == sorted(
            [ids["Sports: Soccer"], ids["News"]]
        )
        (ann,) = lead_review.moderator_accuracy(s, user=lee)
    assert (ann.username, ann.judged, ann.accepted, ann.fixed, ann.rejected) == (
        "ann",
        3,
        1,
        1,
        1,
    )
    # accepted: F1 1; fixed: {Soccer} vs {Soccer, News}: 2*1/(1+2) = 2/3
    assert ann.label_f1 == pytest.approx((1 + 2 / 3) / 2)
    assert ann.compared == 2


def test_a_moderator_sees_their_own_work_and_the_leads_verdicts(
    database: Database, reviewed: dict
) -> None:
    ann, lee, clips, ids = reviewed["ann"], reviewed["lee"], reviewed["clips"], reviewed["ids"]
    with database.session() as s:
        bob = users.create_user(s, username="bob", password_hash="x")
        other = videos.create_video(s, title="bob's", status=VideoStatus.READY).id
        review_rules.save_review(s, video_id=other, expected_version=0, node_ids=[], user=bob)
        lead_review.accept(s, video_id=other, user=lee)  # not ann's: never shown to her
        lead_review.accept(s, video_id=clips[0], user=lee)
        video = videos.get_video(s, video_id=clips[1])
        lead_review.fix(
            s,
            video_id=clips[1],
            expected_version=video.version,
            node_ids=[ids["News"]],
            user=lee,
        )
        lead_review.reject(s, video_id=clips[2], comment="look at the intro again", user=lee)
    with database.session() as s:
        work = lead_review.own_work(s, user=ann, days=3)
        (everyone_sees_ann,) = [
            a for a in lead_review.moderator_accuracy(s, user=lee) if a.username == "ann"
        ]
    assert [n for _, n in work.reviews_per_day] == [0, 0, 3]  # three saves today, none before
    assert work.reviews_per_day[-1][0] == utcnow().date()
    assert work.accuracy == everyone_sees_ann  # the leads' figures, for herself alone
    assert (work.accuracy.judged, work.accuracy.rejected) == (3, 1)
    assert [(f.video_id, f.verdict, f.lead) for f in work.feedback] == [
        (clips[2], "rejected", "lee"),
        (clips[1], "fixed", "lee"),
        (clips[0], "accepted", "lee"),
    ]
    assert work.feedback[0].comment == "look at the intro again"
    assert (work.feedback[1].yours, work.feedback[1].final) == (
        [ids["Sports: Soccer"]],
        [ids["News"]],
    )
    with database.session() as s:
        assert lead_review.own_work(s, user=bob).accuracy.judged == 1
        assert len(lead_review.own_work(s, user=bob).reviews_per_day) == 14
        assert lead_review.own_work(s, user=lee).accuracy is None  # nothing of hers judged


def test_a_lead_samples_one_moderators_reviews(database: Database, reviewed: dict) -> None:
    """A lead checks a new moderator's work: the sample keeps to their reviews, and the counts
    say whose reviews wait for a verdict."""
    ann, lee, clips, ids = reviewed["ann"], reviewed["lee"], reviewed["clips"], reviewed["ids"]
    with database.session() as s:
        bob = users.create_user(s, username="bob", password_hash="x")
        new = [
            videos.create_video(s, title=f"bob {i}", status=VideoStatus.READY).id for i in range(2)
        ]
        for clip in new:
            review_rules.save_review(
                s, video_id=clip, expected_version=0, node_ids=[ids["News"]], user=bob
            )
        lead_review.accept(s, video_id=clips[0], user=lee)
    with database.session() as s:
        waiting = lead_review.unjudged_by_moderator(s, user=lee)
        bobs = lead_review.sample(s, user=lee, mode="random", n=10, moderator_id=bob.id)
        anns = lead_review.sample(s, user=lee, mode="random", n=10, moderator_id=ann.id)
        everyone = lead_review.sample(s, user=lee, mode="random", n=10)
        with pytest.raises(QualityPermissionError):
            lead_review.unjudged_by_moderator(s, user=ann)
    assert waiting == [(ann.id, "ann", 2), (bob.id, "bob", 2)]
    assert {x.video_id for x in bobs} == set(new) and {x.moderator for x in bobs} == {"bob"}
    assert {x.video_id for x in anns} == set(clips[1:])
    assert len(everyone) == 4
