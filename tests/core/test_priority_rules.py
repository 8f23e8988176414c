"""Priority rules (DuckDB and PostgreSQL): what a rule accepts, which videos it raises (the
active model's predictions only, never lowering, reviewed videos left alone, the strongest rule
winning), and the audit of every change."""

from __future__ import annotations

import json

import pytest

from core import priority_rules
from core import review as review_rules
from core.taxonomy import from_paths, save_to_db
from db.engine import Database
from db.queries import DuplicateError, NotFoundError, UnknownNodeError, audit
from db.queries import model_versions as models_q
from db.queries import review as review_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.queries.model_versions import PredictionRow
from db.tables import AuditAction, ReviewPriority, VideoStatus

PATHS = [["Sensitive Topics", "Terrorism"], ["Sensitive Topics", "Crime"], ["Sports"]]


@pytest.fixture
def tax(database: Database):
    taxonomy = from_paths(PATHS)
    with database.session() as session:
        save_to_db(session, taxonomy)
    return taxonomy


def _predict(db: Database, probabilities: dict[int, dict[str, float]], *, active: bool = True):
    """A version storing ``{video: {node id: probability}}``; the active one unless not."""
    with db.session() as session:
        version = models_q.create_model_version(session, encoder_id="lite", encoder_version="1")
        models_q.finish_model_version(session, model_version_id=version.id, status="ready")
        if active:
            models_q.set_active_model(session, model_version_id=version.id)
        models_q.put_predictions(
            session,
            model_version_id=version.id,
            rows=[
                PredictionRow(video_id, node_id, p, p >= 0.5)
                for video_id, tags in probabilities.items()
                for node_id, p in tags.items()
            ],
        )
        raised = priority_rules.apply_rules(
            session, model_version_id=version.id, video_ids=list(probabilities)
        )
    return raised


def _videos(db: Database, n: int, **kwargs) -> list[int]:
    with db.session() as session:
        return [
            videos_q.create_video(session, title=f"v{i}", status=VideoStatus.PREDICTED, **kwargs).id
            for i in range(n)
        ]


def test_a_rule_is_refused_in_words_when_it_cannot_be_kept(database: Database, tax) -> None:
    with database.session() as session:
        with pytest.raises(priority_rules.PriorityRuleError, match="normal raises nothing"):
            priority_rules.add_rule(
                session, tag="Sports", min_probability=0.5, level=ReviewPriority.NORMAL, user=None
            )
        with pytest.raises(priority_rules.PriorityRuleError, match="between 0.01 .* got 1.5"):
            priority_rules.add_rule(
                session, tag="Sports", min_probability=1.5, level=ReviewPriority.HIGH, user=None
            )
        with pytest.raises(UnknownNodeError, match="'Cooking'"):
            priority_rules.add_rule(
                session, tag="Cooking", min_probability=0.5, level=ReviewPriority.HIGH, user=None
            )
        priority_rules.add_rule(
            session, tag="sports", min_probability=0.5, level=ReviewPriority.HIGH, user=None
        )
    with (
        pytest.raises(DuplicateError, match="already has a priority rule"),
        database.session() as session,
    ):
        priority_rules.add_rule(
            session,
            tag="Sports",
            min_probability=0.9,
            level=ReviewPriority.URGENT,
            user=None,
        )
    with database.session() as session, pytest.raises(NotFoundError):
        priority_rules.remove_rule(session, rule_id=999, user=None)


def test_the_active_models_prediction_raises_videos_never_lowers_them(
    database: Database, tax, monkeypatch
) -> None:
    monkeypatch.setattr(review_q, "RAISES_PER_STATEMENT", 2)  # three raises: two statements
    terrorism = tax.find("Sensitive Topics: Terrorism").id
    sensitive = tax.find("Sensitive Topics").id
    with database.session() as session:
        admin = users_q.create_user(session, username="boss", password_hash="x", role="admin")
        priority_rules.add_rule(
            session,
            tag="Sensitive Topics: Terrorism",
            min_probability=0.5,
            level=ReviewPriority.URGENT,
            user=admin,
        )
        priority_rules.add_rule(
            session, tag=sensitive, min_probability=0.7, level=ReviewPriority.HIGH, user=admin
        )
    strong, both, weak, sensitive_only, reviewed, already = _videos(database, 6)
    with database.session() as session:
        review_rules.save_review(
            session, video_id=reviewed, expected_version=0, node_ids=[], user=admin
        )
        review_rules.set_priority(
            session,
            video_id=already,
            user=admin,
            priority=ReviewPriority.URGENT,
            reason="reported by 40 users",
        )
    raised = _predict(
        database,
        {
            strong: {terrorism: 0.91, sensitive: 0.91},
            both: {terrorism: 0.6, sensitive: 0.8},
            weak: {terrorism: 0.3, sensitive: 0.3},
            sensitive_only: {sensitive: 0.75},
            reviewed: {terrorism: 0.95},
            already: {terrorism: 0.99},
        },
    )
    assert raised == 3
    with database.session() as session:
        every = [strong, both, weak, sensitive_only, reviewed, already]
        stored = {v.id: v for v in videos_q.get_videos(session, video_ids=every)}
        entries = audit.list_audit(session, action=AuditAction.PRIORITY_SET)
        added = audit.list_audit(session, action=AuditAction.PRIORITY_RULE_ADDED)
    assert (stored[strong].priority, stored[strong].priority_reason) == (
        ReviewPriority.URGENT,
        "the model gives Sensitive Topics: Terrorism 0.91 (rule: from 0.50)",
    )
    assert stored[both].priority == ReviewPriority.URGENT  # the higher level wins
    assert stored[weak].priority == ReviewPriority.NORMAL
    assert (stored[sensitive_only].priority, stored[sensitive_only].priority_reason) == (
        ReviewPriority.HIGH,
        "the model gives Sensitive Topics 0.75 (rule: from 0.70)",
    )
    assert stored[reviewed].priority == ReviewPriority.NORMAL  # reviewed: nothing to hurry
    assert stored[already].priority_reason == "reported by 40 users"  # its place kept
    by_rule = [e for e in entries if e.user_id is None]
    assert sorted(e.video_id for e in by_rule) == sorted([strong, both, sensitive_only])
    assert {json.loads(e.detail_json)["priority"] for e in added} == {"urgent", "high"}
    assert {e.username for e in added} == {"boss"}

    # a version that is not the active one decides nothing; a lower rule never lowers
    assert _predict(database, {weak: {terrorism: 0.99}}, active=False) == 0
    assert _predict(database, {strong: {sensitive: 0.99}}) == 0
    with database.session() as session:
        assert videos_q.get_video(session, video_id=strong).priority == ReviewPriority.URGENT


def test_removing_a_rule_is_audited_and_leaves_the_raised_videos(database: Database, tax) -> None:
    terrorism = tax.find("Sensitive Topics: Terrorism").id
    with database.session() as session:
        rule = priority_rules.add_rule(
            session, tag=terrorism, min_probability=0.5, level=ReviewPriority.URGENT, user=None
        ).rule
    [video] = _videos(database, 1)
    assert _predict(database, {video: {terrorism: 0.8}}) == 1
    with database.session() as session:
        priority_rules.remove_rule(session, rule_id=rule.id, user=None)
        [entry] = audit.list_audit(session, action=AuditAction.PRIORITY_RULE_REMOVED)
        assert entry.node_id == terrorism
        assert videos_q.get_video(session, video_id=video).priority == ReviewPriority.URGENT
    [other] = _videos(database, 1)
    assert _predict(database, {other: {terrorism: 0.8}}) == 0


def test_a_new_rule_raises_the_videos_the_active_model_already_predicted_so(
    database: Database, tax
) -> None:
    crime = tax.find("Sensitive Topics: Crime").id
    strong, weak, elsewhere = _videos(database, 3)
    _predict(database, {strong: {crime: 0.8}, weak: {crime: 0.2}}, active=False)
    assert _predict(database, {strong: {crime: 0.7}, weak: {crime: 0.4}}) == 0  # no rule yet
    with database.session() as session:
        added = priority_rules.add_rule(
            session, tag=crime, min_probability=0.35, level=ReviewPriority.HIGH, user=None
        )
    assert added.raised == 2  # by the active version's predictions, not the older one's
    with database.session() as session:
        stored = {
            v.id: v for v in videos_q.get_videos(session, video_ids=[strong, weak, elsewhere])
        }
    assert stored[weak].priority_reason == (
        "the model gives Sensitive Topics: Crime 0.40 (rule: from 0.35)"
    )
    assert [stored[v].priority for v in (strong, weak, elsewhere)] == [1, 1, 0]
