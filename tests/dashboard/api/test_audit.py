"""``GET /v1/audit`` (DuckDB and PostgreSQL): a feed paged by cursor that misses and repeats
nothing, filtered by action, with tags as paths; on PostgreSQL only entries older than the
delay; unknown actions refused in words."""

from __future__ import annotations

from db.queries import audit as audit_q


def _page(api, **params):
    answer = api.client.get("/v1/audit", params=params, headers=api.auth("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_pages_by_cursor_miss_and_repeat_nothing(api):
    api.settings.audit_feed_delay_s = 0
    with api.db.session() as session:
        for n in range(5):
            audit_q.add_audit(session, action="login_failed", username=f"guess{n}")
        audit_q.add_audit(
            session, action="label_add", video_id=7, node_id=api.node("Sports: Soccer")
        )
    seen, after = [], 0
    while page := _page(api, after=after, limit=2)["entries"]:
        seen += page
        after = page[-1]["id"]
    ids = [entry["id"] for entry in seen]
    assert ids == sorted(set(ids)) and len(ids) >= 6  # the fixture's token rows, then these
    assert _page(api, after=after) == {"entries": [], "next_after": after}
    failed = _page(api, action="login_failed")["entries"]
    assert [e["detail"] for e in failed] == [{}] * 5
    assert [e["account"] for e in failed] == [f"guess{n}" for n in range(5)]
    [label] = _page(api, action="label_add")["entries"]
    assert label["tag"] == "Sports: Soccer" and label["video_id"] == 7


def test_postgresql_shows_entries_once_they_are_older_than_the_delay(api):
    api.settings.audit_feed_delay_s = 3600
    with api.db.session() as session:
        audit_q.add_audit(session, action="login_failed", username="fresh")
    shown = [e["account"] for e in _page(api, action="login_failed")["entries"]]
    if api.db.is_duckdb:  # one unit of work at a time: ids commit in order, nothing held back
        assert shown == ["fresh"]
    else:
        assert shown == []
    api.settings.audit_feed_delay_s = 0
    assert [e["account"] for e in _page(api, action="login_failed")["entries"]] == ["fresh"]


def test_unknown_actions_and_page_sizes_are_refused(api):
    answer = api.client.get("/v1/audit?action=nope", headers=api.auth("admin"))
    assert (
        answer.status_code == 422 and "unknown audit action(s) ['nope']" in answer.json()["detail"]
    )
    answer = api.client.get("/v1/audit?limit=1001", headers=api.auth("admin"))
    assert answer.status_code == 422 and answer.json()["detail"].startswith("query.limit")
