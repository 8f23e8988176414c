"""The media routes' short memory: entries count for fresh_s seconds, and it stays small."""

from __future__ import annotations

from dashboard.routes.recent import Recent


def test_an_entry_counts_for_fresh_s_seconds() -> None:
    now = [0.0]
    recent: Recent[str, int] = Recent(5.0, clock=lambda: now[0])
    recent.put("a", 1)
    now[0] = 4.9
    assert recent.get("a") == 1
    now[0] = 5.0
    assert recent.get("a") is None
    recent.put("a", 2)  # put again: fresh again
    assert recent.get("a") == 2
    recent.forget("a")
    assert recent.get("a") is None


def test_the_oldest_entries_go_beyond_the_limit() -> None:
    now = [0.0]
    recent: Recent[int, int] = Recent(5.0, limit=3, clock=lambda: now[0])
    for key in range(3):
        recent.put(key, key)
    recent.put(0, 10)  # renewed: now the newest
    recent.put(3, 3)
    assert [recent.get(k) for k in range(4)] == [10, None, 2, 3]
