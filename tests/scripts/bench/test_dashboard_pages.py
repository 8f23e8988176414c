"""scripts/bench/dashboard_pages.py: population and queue timings work on the settings they are
given."""

from __future__ import annotations

import os
from pathlib import Path

from core.config import Settings
from core.lifecycle import queue_ranking
from db.engine import get_database
from db.queries import videos
from scripts.bench import dashboard_pages as bench_dashboard
from scripts.bench.common import fresh_settings


def test_populate_and_measure_use_the_given_settings_only(
    settings: Settings, tmp_path: Path
) -> None:
    environment = dict(os.environ)
    other = fresh_settings(settings, tmp_path / "other")

    bench_dashboard.populate(other, 40)
    timings = bench_dashboard.measure(other, pages=False)

    assert dict(os.environ) == environment
    assert not (
        settings.data_dir / "tagger.duckdb"
    ).exists()  # the configured data dir is untouched
    with get_database(other).session() as session:
        assert videos.count_videos(session) == 40
        state = queue_ranking.ranking_state(session, settings=other)
        spoken = set(videos.spoken_languages(session))
    assert spoken <= set(bench_dashboard.SPOKEN) and "de" in spoken
    # every pool video is an arrival at this size: the ranker's check has them to count
    assert state.arrivals == min(bench_dashboard.ARRIVALS, state.last.videos + state.arrivals)
    assert state.arrivals > 0 and state.last.ranked_by == "badge"
    assert set(timings) == {
        "queue query",
        "queue + search + tag",
        "claim next",
        "claim next, German only",
        "claim above normal, none",
        "overdue check, none",
        "ranker check",
    }
    assert all(ms > 0 for ms in timings.values())
