"""Dashboard speed with real volumes: queue query time and full server-side page renders.

For each size N it builds a DuckDB with the IAB taxonomy, N predicted videos (6 stored node
probabilities each, some reviewed, some claimed; the unreviewed ones ranked for review in a
random order, as after a pool-wide prediction run) bulk-loaded through DuckDB's DataFrame scan,
then measures (median of several runs, each a full unit of work including opening the file):

- the queue query (default sort: most informative first, i.e. by review rank; and with a
  title search + tag filter),
- ``claim_next`` (atomic claim of the next video), for an account of any language and for one
  that reviews German only (``SPOKEN``: 4 % of the videos), and the claim of a video raised
  above normal priority when none is (what a save on the Review page asks when a raised video
  waits: the worst case),
- the server ranker's check (``core.lifecycle.queue_ranking.ranking_state``: the last ranking,
  and the ``ARRIVALS`` videos predicted after it),
- an AppTest render of the queue page and of the review page (whole script run, server side).

Sizes in ``--query-only`` skip the page renders. Prints a markdown table.

    .venv/bin/python -m scripts.bench.dashboard_pages --sizes 10000 100000 --query-only 1000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from core import review as review_rules
from core.config import Settings, get_settings
from scripts.bench.common import fresh_settings

PREDICTIONS_PER_VIDEO = 6
ARRIVALS = 100  # pool videos predicted after the last ranking (unranked)
REPEATS = 5
# spoken languages of the videos ("": not detected; zxx: no speech), a platform's mix
SPOKEN = {"en": 0.55, "": 0.15, "es": 0.1, "ru": 0.06, "de": 0.04, "fr": 0.04, "zxx": 0.06}
PASSWORD = "bench-password-1"


def _timed(fn: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall milliseconds of ``repeats`` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def populate(settings: Settings, n: int, seed: int = 0) -> None:
    """Fill the (new) database of ``settings`` with ``n`` predicted videos for the queue benchmarks.

    Schema, IAB taxonomy, an active model and the moderators ``mod``, ``other`` and ``mod-de``
    (German only; password :data:`PASSWORD`) go through the product; the videos (10% reviewed,
    spoken languages drawn from :data:`SPOKEN`) and their predictions are bulk-loaded through
    DuckDB's DataFrame scan, so a million videos take about a minute.
    """
    from core import auth
    from core import taxonomy as taxonomy_core
    from db.engine import get_database, init_db
    from db.queries import model_versions as models
    from db.queries import videos as videos_q

    settings.ensure_dirs()
    db = get_database(settings)
    init_db(db)
    tax = taxonomy_core.load_iab3()
    with db.session() as s:
        taxonomy_core.save_to_db(s, tax)
        model = models.create_model_version(s, encoder_id="lite", encoder_version="bench")
        models.finish_model_version(
            s, model_version_id=model.id, status="ready", metrics={"micro_auprc": 0.5}
        )
        models.set_active_model(s, model_version_id=model.id)
    auth.create_user(db, username="mod", password=PASSWORD, role="moderator")
    auth.create_user(db, username="other", password=PASSWORD, role="moderator")
    auth.create_user(db, username="mod-de", password=PASSWORD, role="moderator")
    auth.set_languages(db, username="mod-de", languages=["de"])

    rng = np.random.default_rng(seed)
    leaves = [node for node in tax.nodes if node.level >= 2]
    node_ids = np.array([node.id for node in tax.nodes])
    leaf_idx = rng.integers(0, len(leaves), n)
    top = np.array([leaves[i].id for i in leaf_idx])
    parent = np.array([leaves[i].parent_ids[0] for i in leaf_idx])
    uncertainty = rng.random(n)
    words = np.array(
        [
            "goal",
            "recipe",
            "travel",
            "piano",
            "election",
            "market",
            "pets",
            "garden",
            "review",
            "news",
        ]
    )
    titles = [
        f"{a} {b} clip {i}"
        for i, (a, b) in enumerate(
            zip(words[rng.integers(0, 10, n)], words[rng.integers(0, 10, n)], strict=True)
        )
    ]
    status = np.where(rng.random(n) < 0.1, "reviewed", "predicted")
    spoken = rng.choice(list(SPOKEN), n, p=list(SPOKEN.values()))
    pool = status == "predicted"
    review_rank = pd.array(np.full(n, pd.NA), dtype="Int64")
    review_rank[pool] = rng.permutation(int(pool.sum()))
    now = pd.Timestamp.now(tz="UTC")
    # uploads predicted after the last ranking: unranked until the server's ranker runs
    arrivals = rng.choice(np.flatnonzero(pool), min(ARRIVALS, int(pool.sum())), replace=False)
    review_rank[arrivals] = pd.NA
    updated_at = pd.Series(now, index=range(n))
    updated_at[arrivals] = now + pd.Timedelta(seconds=1)
    videos = pd.DataFrame(
        {
            "title": titles,
            "description": "synthetic video for the dashboard benchmark",
            "status": status,
            "created_at": now - pd.to_timedelta(rng.integers(0, 90 * 86400, n), unit="s"),
            "updated_at": updated_at,
            "version": 0,
            "flagged": rng.random(n) < 0.01,
            "predicted_model_id": model.id,
            "uncertainty": uncertainty,
            "review_rank": review_rank,
            "top_tag": top,
            "stored_path": None,
            "duration_s": 30.0,
            "spoken_language": pd.Series(spoken).replace("", None),
        }
    )
    ids = np.arange(1, n + 1)
    extra = rng.integers(0, len(node_ids), (n, PREDICTIONS_PER_VIDEO - 2))
    preds = pd.DataFrame(
        {
            "video_id": np.repeat(ids, PREDICTIONS_PER_VIDEO),
            "model_version_id": model.id,
            "node_id": np.column_stack([parent, top, node_ids[extra]]).ravel(),
            "probability": np.column_stack(
                [
                    rng.uniform(0.6, 1.0, n),
                    rng.uniform(0.5, 1.0, n),
                    rng.uniform(0.01, 0.4, (n, PREDICTIONS_PER_VIDEO - 2)),
                ]
            ).ravel(),
        }
    )
    preds["is_predicted"] = preds["probability"] >= 0.5
    preds = preds.drop_duplicates(["video_id", "node_id"])
    con = duckdb.connect(str(db.path))
    try:
        con.register("videos_df", videos)
        con.execute(
            "INSERT INTO video (title, description, status, created_at, updated_at, version, "
            "flagged, predicted_model_id, uncertainty, review_rank, top_tag, stored_path, "
            "duration_s, spoken_language) "
            "SELECT title, description, status, created_at, updated_at, version, flagged, "
            "predicted_model_id, uncertainty, review_rank, top_tag, stored_path, duration_s, "
            "spoken_language FROM videos_df"
        )
        con.register("preds_df", preds)
        con.execute(
            "INSERT INTO prediction "
            "(video_id, model_version_id, node_id, probability, is_predicted) "
            "SELECT video_id, model_version_id, node_id, probability, is_predicted FROM preds_df"
        )
        con.execute(
            "UPDATE video SET reviewed_by = 2, reviewed_at = created_at WHERE status = 'reviewed'"
        )
        con.execute("CHECKPOINT")
    finally:
        con.close()
    with db.session() as s:
        videos_q.record_queue_ranking(
            s,
            at=now.to_pydatetime(),
            model_version_id=model.id,
            videos=int(pool.sum()) - len(arrivals),
            ranked_by="badge",
        )


def measure(settings: Settings, *, pages: bool) -> dict[str, float]:
    """Median milliseconds of the queue queries, ``claim_next`` and the ranker's check on a
    :func:`populate`-d database (keys ``queue query``, ``queue + search + tag``, ``claim next``,
    ``claim next, German only``, ``claim above normal, none``, ``ranker check``, ``overdue
    check, none``) and, with
    ``pages``, of server-side renders of the queue and review pages (``queue page render``,
    ``review page render``).
    """
    from core import overdue
    from core import taxonomy as taxonomy_core
    from core.lifecycle import queue_ranking
    from db.engine import get_database
    from db.queries import review, users
    from db.queries.review import QueueFilters
    from db.tables import ReviewPriority

    db = get_database(settings)
    with db.session() as s:
        mod = users.get_user_by_name(s, username="mod")
        german = users.get_user_by_name(s, username="mod-de")
    soccer = taxonomy_core.load_iab3().find("Sports").id

    def queue(filters: QueueFilters) -> Callable[[], object]:
        def run() -> object:
            with db.session() as s:
                return review.list_queue(s, filters=filters, page=1, page_size=50)

        return run

    def claim(user: object) -> Callable[[], object]:
        def run() -> object:
            with db.session() as s:
                video = review_rules.claim_next(s, user=user, claim_minutes=20)
                review_rules.release_claim(s, video_id=video.id, user=user)
            return video

        return run

    def claim_raised(user: object) -> Callable[[], object]:
        """What the Review page asks at a save when the server counts raised videos: none of a
        priority above the prepared video's is left to take here (the worst case: a read that
        finds nothing)."""

        def run() -> object:
            with db.session() as s:
                return review_rules.claim_next(
                    s, user=user, claim_minutes=20, above=ReviewPriority.NORMAL
                )

        return run

    def ranker_check() -> object:
        with db.session() as s:
            return queue_ranking.ranking_state(s, settings=settings)

    def overdue_check() -> object:
        """The server's check every minute for raised videos late on their target, when none
        is (the usual case)."""
        return overdue.report_overdue(db)

    result = {
        "queue query": _timed(queue(QueueFilters())),
        "ranker check": _timed(ranker_check),
        "queue + search + tag": _timed(queue(QueueFilters(search="piano", tag=soccer))),
        "claim next": _timed(claim(mod)),
        "claim next, German only": _timed(claim(german)),
        "claim above normal, none": _timed(claim_raised(mod)),
        "overdue check, none": _timed(overdue_check),
    }
    if pages:
        result.update(_render_pages(settings))
    return result


@contextmanager
def _configured(settings: Settings) -> Iterator[None]:
    """The in-process dashboard reads the configured settings: point them at ``settings`` while
    pages render, then restore the environment."""
    from core.lifecycle.jobs import settings_environment

    variables = settings_environment(settings)
    saved = {
        name: os.environ.get(name)
        for name in {*variables, *(n for n in os.environ if n.startswith("TAGGER_"))}
    }
    for name in saved:
        os.environ.pop(name, None)  # e.g. a TAGGER_DATABASE_URL that these settings do not use
    os.environ.update(variables)
    get_settings.cache_clear()
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        get_settings.cache_clear()


def _render_pages(settings: Settings) -> dict[str, float]:
    with _configured(settings):
        return _time_pages()


def _time_pages() -> dict[str, float]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    st.cache_data.clear()
    st.cache_resource.clear()
    app = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
    from core import auth
    from core.config import get_settings
    from dashboard import state
    from db.engine import get_database

    at = AppTest.from_file(str(app), default_timeout=120)
    # AppTest sends no cookies: hand it the token the sign-in route would have set
    at.session_state[state.TOKEN] = auth.authenticate(
        get_database(get_settings()), "mod", PASSWORD
    ).token
    at.run()
    at.switch_page("views/queue.py").run()
    at.button(key="queue_review_next").click().run()
    if at.exception:
        raise RuntimeError(f"page failed: {at.exception[0].message}")

    def page(name: str) -> Callable[[], object]:
        def run() -> object:
            at.switch_page(f"views/{name}.py").run()
            if at.exception:
                raise RuntimeError(f"{name} page failed: {at.exception[0].message}")
            return at

        return run

    return {
        "queue page render": _timed(page("queue")),
        "review page render": _timed(page("review")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000])
    parser.add_argument("--query-only", type=int, nargs="*", default=[1_000_000])
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    runs = [(n, True) for n in args.sizes] + [(n, False) for n in args.query_only]
    rows: list[tuple[int, float, dict[str, float]]] = []
    for n, pages in runs:
        data_dir = Path(tempfile.mkdtemp(prefix=f"bench-dash-{n}-"))
        try:
            settings = fresh_settings(get_settings(), data_dir)
            start = time.perf_counter()
            populate(settings, n)
            load_s = time.perf_counter() - start
            rows.append((n, load_s, measure(settings, pages=pages)))
            print(f"done N={n:,} (load {load_s:.1f} s)", flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(data_dir, ignore_errors=True)
    columns = [
        "queue query",
        "queue + search + tag",
        "claim next",
        "claim next, German only",
        "claim above normal, none",
        "overdue check, none",
        "ranker check",
        "queue page render",
        "review page render",
    ]
    print(
        "\n| videos | predictions | load (s) | " + " | ".join(f"{c} (ms)" for c in columns) + " |"
    )
    print("|---:|---:|---:|" + "---:|" * len(columns))
    for n, load_s, result in rows:
        cells = [f"{result[c]:.1f}" if c in result else "–" for c in columns]
        print(
            f"| {n:,} | ~{n * PREDICTIONS_PER_VIDEO:,} | {load_s:.1f} | " + " | ".join(cells) + " |"
        )
    print(
        f"\nmedian of {REPEATS} runs after a warm-up; "
        "each query is a full unit of work (opens the DuckDB file)."
    )


if __name__ == "__main__":
    main()
