"""``/v1/queue`` and label writes for a platform's own reviewing tool (DuckDB and PostgreSQL):
claims follow the dashboard's queue order and rules, a skip passes the video on, overlap videos are
answered blind through the API as in the dashboard, and a video a lead rejected comes back to its
reviewer with the comment."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from core import lead_review, quality, tokens
from db.queries import audit as audit_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import AuditAction, utcnow
from tests.dashboard.api.conftest import add_video


def _claim(api, scope: str = "write", **params):
    return api.client.post("/v1/queue/claims", headers=api.auth(scope), params=params)


def _put(api, video_id: int, tags: list[str], scope: str = "write", version: int = 0):
    return api.client.put(
        f"/v1/videos/{video_id}/labels",
        headers={**api.auth(scope), "If-Match": f'"{version}"'},
        json={"tags": tags},
    )


def test_claims_follow_the_queue_order_and_a_skip_passes_the_video_on(api):
    first, second, third = (add_video(api, title=t) for t in ("a", "b", "c"))
    with api.db.session() as session:  # the queue's order: third, first, then the unranked
        videos_q.set_review_ranks(
            session,
            model_version_id=None,
            ranked_ids=[third, first],
            pool_read_at=utcnow(),
            ranked_by="coverage",
        )
    mine = _claim(api)
    assert mine.status_code == 200, mine.text
    assert mine.json()["video"]["id"] == third and mine.headers["etag"] == '"0"'
    assert mine.json()["claim_expires_at"] > utcnow().isoformat()
    assert _claim(api).json()["video"]["id"] == third  # the claim held is given back first
    assert _claim(api, "admin").json()["video"]["id"] == first  # another account: the next one

    assert _put(api, third, ["Sports: Soccer"]).status_code == 200  # the write ends the claim
    assert _claim(api).json()["video"]["id"] == second
    assert (
        api.client.delete(f"/v1/queue/claims/{second}", headers=api.auth("write")).status_code
        == 204
    )
    gone = api.client.delete(f"/v1/queue/claims/{second}", headers=api.auth("write"))
    assert (
        gone.status_code == 404 and gone.json()["detail"] == f"you hold no claim on video {second}"
    )
    assert _claim(api).json()["video"]["id"] == second  # skipped, still in the queue
    api.client.delete(f"/v1/queue/claims/{second}", headers=api.auth("write"))
    assert _claim(api, exclude=[second]).status_code == 204  # passed on: the rest is held
    # excluded even where the account holds the claim: the next one is given
    assert _claim(api, "admin", exclude=[first, 99]).json()["video"]["id"] == second

    assert _claim(api, tag="News").status_code == 204  # nothing under that tag
    unknown = _claim(api, tag="Cooking")
    assert unknown.status_code == 422 and "Cooking" in unknown.json()["detail"]
    with api.db.session() as session:
        actions = [e.action for e in audit_q.list_audit(session, video_id=second)]
    assert actions.count(AuditAction.CLAIM) == 3 and AuditAction.RELEASE in actions


def test_an_urgent_video_is_claimed_first_and_a_desk_can_take_only_those(api):
    ranked, reported = add_video(api, title="ranked"), add_video(api, title="reported")
    with api.db.session() as session:
        videos_q.set_review_ranks(
            session,
            model_version_id=None,
            ranked_ids=[ranked],
            pool_read_at=utcnow(),
            ranked_by="coverage",
        )
    assert _claim(api, prioritized_only=True).status_code == 204  # nothing raised yet
    raised = api.client.put(
        f"/v1/videos/{reported}/priority",
        headers=api.auth("write"),
        json={"level": "urgent", "reason": "reported by 3 users"},
    )
    assert raised.status_code == 200
    urgent = _claim(api, prioritized_only=True).json()["video"]
    assert urgent["id"] == reported and urgent["priority"]["reason"] == "reported by 3 users"
    assert _claim(api, "admin").json()["video"]["id"] == ranked  # the urgent one is held


def test_overlap_videos_are_answered_blind_through_the_api(api):
    """Every video in the overlap share, two answers each: a PUT stores the account's answer,
    nobody reads it, equal answers become the labels, differing ones wait for a lead and refuse
    a third answer."""
    with api.db.session() as session:
        quality.set_overlap(session, share=1.0, moderators=2, user=None)
        users_q.create_user(session, username="third", password_hash="x", role="moderator")
    third = tokens.create_token(api.db, name="t-third", username="third", scope="write").secret
    agreed, disputed = add_video(api, title="derby"), add_video(api, title="open")

    answer = _put(api, agreed, ["Sports: Soccer"])
    assert answer.status_code == 200, answer.text
    review = answer.json()["review"]
    assert review["blind"] and not review["reviewed"] and review["labels"] == []
    seen = api.client.get(f"/v1/videos/{agreed}", headers=api.auth("admin")).json()["review"]
    assert seen["labels"] == [] and seen["blind"]  # the answer is not readable
    with api.db.session() as session:  # the share changed: an answered video stays blind
        quality.set_overlap(session, share=0.0, moderators=2, user=None)
    assert api.client.get(f"/v1/videos/{agreed}", headers=api.auth("admin")).json()["review"][
        "blind"
    ]
    assert not api.client.get(f"/v1/videos/{disputed}", headers=api.auth("read")).json()["review"][
        "blind"
    ]
    with api.db.session() as session:
        quality.set_overlap(session, share=1.0, moderators=2, user=None)
    done = _put(api, agreed, ["Sports: Soccer"], scope="admin")
    assert done.json()["review"]["reviewed"]
    assert [label["path"] for label in done.json()["review"]["labels"]] == ["Sports: Soccer"]

    _put(api, disputed, ["Sports: Golf"])
    differs = _put(api, disputed, ["Sports: Soccer"], scope="admin").json()["review"]
    assert not differs["reviewed"]
    assert differs["flag_reason"] == "overlap: 2 answers differ; waiting for a lead"
    late = api.client.put(
        f"/v1/videos/{disputed}/labels",
        headers={"Authorization": f"Bearer {third}", "If-Match": '"0"'},
        json={"tags": ["News"]},
    )
    assert late.status_code == 409
    assert late.json()["detail"] == (
        f"video {disputed} already has its 2 answers and waits for adjudication"
    )


def test_a_rejected_review_comes_back_to_its_reviewer_with_the_comment(api):
    video_id = add_video(api, title="match")
    assert _put(api, video_id, ["Sports: Soccer"]).status_code == 200
    with api.db.session() as session:
        boss = users_q.get_user_by_name(session, username="boss")
        lead_review.reject(session, video_id=video_id, comment="it is golf", user=boss)
    back = _claim(api)
    assert back.json()["video"]["id"] == video_id
    assert back.json()["video"]["review"]["flag_reason"] == "rejected by boss: it is golf"
    assert _claim(api, "admin").status_code == 204  # it is the moderator's, nobody else's


def test_the_review_targets_read_by_any_token_and_set_by_an_admin(api):
    """Defaults until set; the admin scope sets them (audited) and a raised video's
    ``priority.due`` follows at once; out of range is refused in words."""
    url = "/v1/queue/review-targets"
    assert api.client.get(url, headers=api.auth("read")).json() == {
        "urgent_minutes": 30,
        "high_minutes": 240,
    }
    body = {"urgent_minutes": 10, "high_minutes": 60}
    assert api.client.put(url, headers=api.auth("write"), json=body).status_code == 403
    answer = api.client.put(url, headers=api.auth("admin"), json=body)
    assert answer.status_code == 200 and answer.json() == body
    assert api.client.get(url, headers=api.auth("read")).json() == body
    too_long = api.client.put(url, headers=api.auth("admin"), json={**body, "high_minutes": 10_081})
    assert too_long.status_code == 422 and "high_minutes" in too_long.json()["detail"]
    video_id = add_video(api, title="reported")
    api.client.put(
        f"/v1/videos/{video_id}/priority", headers=api.auth("write"), json={"level": "urgent"}
    ).raise_for_status()
    priority = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()["priority"]
    since, due = (datetime.fromisoformat(priority[k]) for k in ("since", "due"))
    assert due - since == timedelta(minutes=10)
    with api.db.session() as session:
        [entry] = audit_q.list_audit(session, action=AuditAction.REVIEW_TARGETS)
    assert entry.username == "boss" and json.loads(entry.detail_json) == body
