"""/v1/videos on DuckDB and PostgreSQL: upload (background processing, idempotency, limits,
probing), read (tags, tree, labels), list (filters, cursor), labels (ETag/If-Match, audit)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from core import review as review_rules
from dashboard.api import create_api
from db.queries import audit as audit_q
from db.queries import videos as videos_q
from db.tables import AuditAction, VideoStatus
from tests.dashboard.api.conftest import add_video, predict


def _upload(api, data: bytes, scope: str = "write", **form):
    return api.client.post(
        "/v1/videos",
        headers=api.auth(scope),
        files={"file": ("clip.mp4", data, "video/mp4")},
        data={"title": "A match", "description": "two teams", **form},
    )


def test_upload_is_accepted_then_processed_in_the_background_job(api, clip):
    answer = _upload(api, clip(90), external_id="platform-1")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["duplicate"] is False and body["status"] == VideoStatus.NEW
    assert api.jobs.started == [("ingest", {"video_ids": [body["id"]]})]
    video = api.client.get(f"/v1/videos/{body['id']}", headers=api.auth("read")).json()
    assert video["status"] == VideoStatus.READY  # processed; no active model to predict with
    assert video["external_id"] == "platform-1" and video["title"] == "A match"
    assert 0.9 < video["duration_s"] < 1.2
    job = api.client.get(f"/v1/jobs/{body['job_id']}", headers=api.auth("read")).json()
    assert job["kind"] == "ingest" and job["status"] == "succeeded"


def test_upload_is_idempotent_on_content_and_external_id(api, clip):
    first = _upload(api, clip(90), external_id="p-1").json()
    again = _upload(api, clip(90), external_id="p-1")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    assert again.json()["duplicate"] is True
    same_bytes = _upload(api, clip(90))
    assert same_bytes.status_code == 200 and same_bytes.json()["id"] == first["id"]
    other_bytes = _upload(api, clip(150), external_id="p-1")
    assert other_bytes.status_code == 409
    assert "already names video" in other_bytes.json()["detail"]
    assert len(api.jobs.started) == 1


def test_upload_checks_content_by_probing_not_by_name(api):
    answer = _upload(api, b"this is not a video at all" * 10)
    assert answer.status_code == 422
    assert "clip.mp4" in answer.json()["detail"]
    assert api.jobs.started == []


def test_upload_over_the_size_limit_is_refused_with_413(api, clip):
    api.settings.max_upload_mb = 1
    small = TestClient(create_api(settings=api.settings, db=api.db, start_job=api.jobs))
    answer = small.post(
        "/v1/videos",
        headers=api.auth("write"),
        files={"file": ("big.mp4", b"\0" * (3 << 20), "video/mp4")},
    )
    assert answer.status_code == 413 and "1 MB upload limit" in answer.json()["detail"]
    assert not list(api.settings.media_dir.glob("*.mp4"))


def test_upload_field_errors_are_422_in_words(api, clip):
    answer = _upload(api, clip(90), title="x" * 501)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("body.title: String should have at most 500")
    missing = api.client.post("/v1/videos", headers=api.auth("write"), data={"title": "t"})
    assert missing.status_code == 422 and "body.file: Field required" in missing.json()["detail"]


def test_get_video_tags_tree_and_labels(api):
    video_id = add_video(api, title="derby", external_id="e-1")
    model = predict(
        api,
        video_id,
        {
            "Sports": (0.9, True),
            "Sports: Soccer": (0.8, True),
            "Sports: Golf": (0.2, False),
            "News": (0.6, True),
        },
    )
    with api.db.session() as session:  # the prediction's closest call: Golf at 0.2
        summary = videos_q.PredictionSummary(
            video_id, 0.7, None, doubt_tag=api.node("Sports: Golf")
        )
        videos_q.set_prediction_summaries(session, model_version_id=model, summaries=[summary])
    answer = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read"))
    assert answer.status_code == 200
    assert answer.headers["etag"] == '"0"'
    body = answer.json()
    assert body["model_version"] == model and body["status"] == VideoStatus.PREDICTED
    assert body["least_sure_about"] == "Sports: Golf"
    assert body["tags"] == [
        {"path": "Sports: Soccer", "probability": 0.8},
        {"path": "News", "probability": 0.6},
    ]
    assert body["tree"] is None
    assert body["review"] == {
        "reviewed": False,
        "reviewed_by": None,
        "reviewed_at": None,
        "labels": [],
        "blind": False,
        "flag_reason": None,
    }
    tree = api.client.get(f"/v1/videos/{video_id}?tree=true", headers=api.auth("read")).json()
    sports, news = tree["tree"]
    assert (sports["path"], news["path"]) == ("Sports", "News")
    assert [c["path"] for c in sports["children"]] == ["Sports: Soccer", "Sports: Golf"]
    for parent in tree["tree"]:
        assert all(c["probability"] <= parent["probability"] for c in parent["children"])


def test_video_output_has_the_detected_spoken_language(api):
    video_id = add_video(api, title="новости")
    body = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert body["spoken_language"] is None and body["spoken_language_probability"] is None
    with api.db.session() as session:
        videos_q.set_spoken_language(session, video_id=video_id, language="ru", probability=0.82)
    body = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert (body["spoken_language"], body["spoken_language_probability"]) == ("ru", 0.82)
    assert body["title"] == "новости"


def test_video_output_says_when_its_media_was_deleted_by_retention(api):
    video_id = add_video(api, title="old")
    body = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert body["media_deleted_at"] is None
    with api.db.session() as session:
        videos_q.mark_media_deleted(
            session, video_ids=[video_id], at=datetime(2026, 11, 2, tzinfo=UTC)
        )
    body = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert body["media_deleted_at"].startswith("2026-11-02T00:00:00")


def test_unknown_video_is_404(api):
    answer = api.client.get("/v1/videos/999", headers=api.auth("read"))
    assert answer.status_code == 404 and answer.json() == {"detail": "no video with id 999"}


def test_failed_video_says_why(api):
    video_id = add_video(api, title="broken", status=VideoStatus.FAILED)
    with api.db.session() as session:
        videos_q.set_status(
            session, video_id=video_id, status=VideoStatus.FAILED, error="no video stream"
        )
    body = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert body["status"] == "failed" and body["error"] == "no video stream"


def test_put_labels_with_if_match_saves_an_audited_review(api):
    video_id = add_video(api, title="derby")
    url = f"/v1/videos/{video_id}/labels"
    answer = api.client.put(
        url,
        headers={**api.auth("write"), "If-Match": '"0"'},
        json={"tags": ["sports: soccer", api.node("News")]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["etag"] == '"1"'
    review = answer.json()["review"]
    assert review["reviewed"] and review["reviewed_by"] == "mod"
    assert sorted(label["path"] for label in review["labels"]) == ["News", "Sports: Soccer"]
    assert {label["created_by"] for label in review["labels"]} == {"mod"}
    with api.db.session() as session:
        assert review_rules.effective_labels(session, video_ids=[video_id]) == {
            video_id: sorted([api.node("News"), api.node("Sports: Soccer")])
        }
        actions = [e.action for e in audit_q.list_audit(session, video_id=video_id)]
    assert AuditAction.REVIEW_SAVED in actions and actions.count(AuditAction.LABEL_ADD) == 2
    stale = api.client.put(url, headers={**api.auth("write"), "If-Match": '"0"'}, json={"tags": []})
    assert stale.status_code == 412 and "changed by someone else" in stale.json()["detail"]


def test_put_labels_needs_if_match_and_known_tags(api):
    video_id = add_video(api, title="derby")
    url = f"/v1/videos/{video_id}/labels"
    missing = api.client.put(url, headers=api.auth("write"), json={"tags": []})
    assert missing.status_code == 428
    garbage = api.client.put(
        url, headers={**api.auth("write"), "If-Match": "abc"}, json={"tags": []}
    )
    assert garbage.status_code == 412
    unknown = api.client.put(
        url, headers={**api.auth("write"), "If-Match": '"0"'}, json={"tags": ["Cooking"]}
    )
    assert unknown.status_code == 422 and "'Cooking'" in unknown.json()["detail"]
    extra = api.client.put(
        url, headers={**api.auth("write"), "If-Match": '"0"'}, json={"tags": [], "x": 1}
    )
    assert extra.status_code == 422 and "body.x: Extra inputs" in extra.json()["detail"]
    gone = api.client.put(
        "/v1/videos/999/labels", headers={**api.auth("write"), "If-Match": '"0"'}, json={"tags": []}
    )
    assert gone.status_code == 404


def test_list_filters_and_cursor_pagination(api):
    ids = [add_video(api, title=f"v{i}", external_id=f"platform-{i}") for i in range(5)]
    predict(api, ids[1], {"Sports": (0.9, True), "Sports: Golf": (0.7, True)})
    with api.db.session() as session:
        review_rules.save_review(
            session,
            video_id=ids[2],
            expected_version=0,
            node_ids=[api.node("Sports: Soccer")],
            user=type("U", (), {"id": None, "username": "x"})(),
        )
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get("/v1/videos", params=params, headers=api.auth("read")).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    def get(**params) -> list[int]:
        page = api.client.get("/v1/videos", params=params, headers=api.auth("read")).json()
        return [v["id"] for v in page["items"]]

    assert get(tag="Sports") == [ids[1], ids[2]]
    assert get(tag="Sports: Golf") == [ids[1]]
    assert get(status="predicted") == [ids[1]]
    assert get(status=["predicted", "reviewed"]) == [ids[1], ids[2]]
    assert get(reviewed=True) == [ids[2]]
    assert get(reviewed=False) == [i for i in ids if i != ids[2]]
    assert get(created_since="2000-01-01T00:00:00Z") == ids
    assert get(created_since="2999-01-01T00:00:00Z") == []
    assert get(external_id="platform-3") == [ids[3]]
    assert get(external_id="platform") == []
    top = api.client.get("/v1/videos", params={"tag": "Sports: Golf"}, headers=api.auth("read"))
    assert json.loads(top.text)["items"][0]["model_version"] is not None


def test_list_rejects_bad_filters_in_words(api):
    def bad(**params):
        return api.client.get("/v1/videos", params=params, headers=api.auth("read"))

    assert bad(status="lost").status_code == 422
    assert "query.status" in bad(status="lost").json()["detail"]
    assert bad(limit=0).status_code == 422
    assert bad(cursor="nonsense!").json()["detail"] == "cursor: not a cursor this API gave out"
    assert "unknown tag" in bad(tag="Cooking").json()["detail"]


def test_an_admin_token_removes_a_video_for_good(api, clip):
    """DELETE /v1/videos/{id}: the video, its rows and files go; the audit log names the
    token's account and the reason; a video being processed answers 409."""
    uploaded = _upload(api, clip(90), external_id="platform-9").json()["id"]
    path = f"/v1/videos/{uploaded}"
    assert api.client.delete(path, headers=api.auth("admin")).status_code == 422  # no reason
    blank = api.client.delete(path, params={"reason": "  "}, headers=api.auth("admin"))
    assert blank.status_code == 422 and "say why" in blank.json()["detail"]
    answer = api.client.delete(
        path, params={"reason": "uploader deleted it"}, headers=api.auth("admin")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "id": uploaded,
        "title": "A match",
        "files_deleted": 2,
        "files_kept": 0,
        "files_left": [],
    }
    assert api.client.get(path, headers=api.auth("read")).status_code == 404
    again = api.client.delete(path, params={"reason": "again"}, headers=api.auth("admin"))
    assert again.status_code == 404
    with api.db.session() as session:
        [entry] = audit_q.list_audit(session, video_id=uploaded, action=AuditAction.VIDEO_REMOVED)
        assert entry.username == "boss"
        assert json.loads(entry.detail_json)["reason"] == "uploader deleted it"
        busy = videos_q.create_video(session, title="busy", status=VideoStatus.PROCESSING).id
    refused = api.client.delete(
        f"/v1/videos/{busy}", params={"reason": "takedown"}, headers=api.auth("admin")
    )
    assert refused.status_code == 409 and "being processed" in refused.json()["detail"]


def test_a_videos_history_is_its_audit_trail_and_outlives_it(api):
    """GET /v1/videos/{id}/history (admin): newest first, label changes with their tag's path;
    still there after the video is removed; 404 only for an id nothing was recorded about."""
    video_id = add_video(api, title="h")
    saved = api.client.put(
        f"/v1/videos/{video_id}/labels",
        json={"tags": ["Sports: Soccer"]},
        headers={**api.auth("write"), "If-Match": '"0"'},
    )
    assert saved.status_code == 200, saved.text
    path = f"/v1/videos/{video_id}/history"
    before = api.client.get(path, headers=api.auth("admin")).json()
    assert {"action": "label_add", "account": "mod", "tag": "Sports: Soccer"}.items() <= (
        next(e for e in before if e["action"] == "label_add").items()
    )
    removed = api.client.delete(
        f"/v1/videos/{video_id}", params={"reason": "takedown 9"}, headers=api.auth("admin")
    )
    assert removed.status_code == 200
    after = api.client.get(path, headers=api.auth("admin"))
    assert after.status_code == 200
    newest, *rest = after.json()
    assert (newest["action"], newest["account"], newest["detail"]["reason"]) == (
        "video_removed",
        "boss",
        "takedown 9",
    )
    assert rest == before
    assert api.client.get(path, params={"limit": 1}, headers=api.auth("admin")).json() == [newest]
    unknown = api.client.get("/v1/videos/999999/history", headers=api.auth("admin"))
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no video with id 999999"


def test_a_platform_raises_a_videos_priority_at_upload_or_later(api, clip):
    """A user's report makes a video urgent: at upload (a new video only), or later by PUT;
    the answer, the list and the audit show it; lowering to normal clears reason and time."""
    body = _upload(api, clip(90), priority="urgent", priority_reason="reported by 12 users").json()
    video = api.client.get(f"/v1/videos/{body['id']}", headers=api.auth("read")).json()
    assert video["priority"]["level"] == "urgent"
    assert video["priority"]["reason"] == "reported by 12 users"
    since = datetime.fromisoformat(video["priority"]["since"])
    due = datetime.fromisoformat(video["priority"]["due"])
    assert due - since == timedelta(minutes=30)  # the default urgent target
    again = _upload(api, clip(90), priority="high")  # the same bytes: the video keeps its own
    assert again.status_code == 200
    video = api.client.get(f"/v1/videos/{body['id']}", headers=api.auth("read")).json()
    assert video["priority"]["level"] == "urgent"

    other = add_video(api, title="later reported")
    url = f"/v1/videos/{other}/priority"
    raised = api.client.put(
        url, headers=api.auth("write"), json={"level": "high", "reason": "3 reports"}
    )
    assert raised.status_code == 200, raised.text
    assert raised.json()["priority"]["level"] == "high"
    high_priority = raised.json()["priority"]
    assert datetime.fromisoformat(high_priority["due"]) - datetime.fromisoformat(
        high_priority["since"]
    ) == timedelta(hours=4)
    listed = api.client.get("/v1/videos", headers=api.auth("read")).json()["items"]
    assert {v["id"]: v["priority"] for v in listed} == {body["id"]: "urgent", other: "high"}
    high = api.client.get("/v1/videos?priority=high&priority=normal", headers=api.auth("read"))
    assert [v["id"] for v in high.json()["items"]] == [other]
    refused = api.client.put(url, headers=api.auth("write"), json={"level": "normal"})
    assert refused.status_code == 403  # the write token's account is a moderator
    assert "lowering a video's priority needs the lead or admin role" in refused.json()["detail"]
    lowered = api.client.put(url, headers=api.auth("admin"), json={"level": "normal"}).json()
    assert lowered["priority"] == {"level": "normal", "reason": None, "since": None, "due": None}
    with api.db.session() as session:
        entries = audit_q.list_audit(session, action=AuditAction.PRIORITY_SET)
    assert [(e.video_id, json.loads(e.detail_json)["priority"]) for e in entries] == [
        (other, "normal"),
        (other, "high"),
        (body["id"], "urgent"),
    ]


def test_a_priority_change_is_refused_in_words(api):
    video_id = add_video(api, title="v")
    url = f"/v1/videos/{video_id}/priority"
    read_only = api.client.put(url, headers=api.auth("read"), json={"level": "urgent"})
    assert read_only.status_code == 403
    unknown = api.client.put(url, headers=api.auth("write"), json={"level": "asap"})
    assert unknown.status_code == 422 and "level" in unknown.json()["detail"]
    too_long = api.client.put(
        url, headers=api.auth("write"), json={"level": "high", "reason": "x" * 501}
    )
    assert too_long.status_code == 422 and "reason" in too_long.json()["detail"]
    missing = api.client.put(
        "/v1/videos/999/priority", headers=api.auth("write"), json={"level": "high"}
    )
    assert missing.status_code == 404 and "999" in missing.json()["detail"]
