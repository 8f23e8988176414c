"""Review queue listing, filters and claims (DuckDB and PostgreSQL via the `database` fixture)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
from sqlmodel import Session

from core import lead_review
from core import review as review_rules
from db.engine import Database
from db.queries import NotFoundError, audit, labels, review, taxonomy, users, videos
from db.queries import model_versions as models
from db.queries.model_versions import PredictionRow
from db.queries.review import IN_REVIEW, QueueFilters, VideoClaimedError
from db.queries.videos import PredictionSummary
from db.tables import AuditAction, ReviewPriority, TaxonomyNode, VideoStatus, utcnow

# tiny taxonomy: Sports > Soccer, Sports > Tennis, Music
NODES = [
    ("s", "Sports", None, "Sports", 1, 0),
    ("s.soc", "Soccer", "s", "Sports: Soccer", 2, 1),
    ("s.ten", "Tennis", "s", "Sports: Tennis", 2, 2),
    ("m", "Music", None, "Music", 1, 3),
]


def _put_taxonomy(session: Session) -> None:
    taxonomy.replace_taxonomy(
        session,
        nodes=[
            TaxonomyNode(id=i, name=nm, parent_id=p, path=pa, level=lv, sort_key=k)
            for i, nm, p, pa, lv, k in NODES
        ],
        edges=[("s", "s.soc"), ("s", "s.ten")],
    )


def _seed(db: Database, *, n: int = 6) -> dict:
    """n predicted videos with uncertainty i/10 (video i+1), two moderators."""
    with db.session() as s:
        _put_taxonomy(s)
        alice = users.create_user(s, username="alice", password_hash="x")
        bob = users.create_user(s, username="bob", password_hash="x")
        model = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        models.finish_model_version(s, model_version_id=model.id, status="ready")
        ids = [
            videos.create_video(s, title=f"clip {i}", status=VideoStatus.READY).id for i in range(n)
        ]
        rows, summaries = [], []
        for i, vid in enumerate(ids):
            leaf = "s.soc" if i % 2 == 0 else "m"
            rows += [PredictionRow(vid, leaf, 0.9, True)]
            if leaf == "s.soc":
                rows += [PredictionRow(vid, "s", 0.95, True)]
            summaries.append(PredictionSummary(video_id=vid, uncertainty=i / 10, top_tag=leaf))
        models.put_predictions(s, model_version_id=model.id, rows=rows)
        videos.set_prediction_summaries(s, model_version_id=model.id, summaries=summaries)
    return {"ids": ids, "alice": alice, "bob": bob, "model": model.id}


def _queue(db: Database, **kw) -> review.QueuePage:
    page = kw.pop("page", 1)
    page_size = kw.pop("page_size", 50)
    with db.session() as s:
        return review.list_queue(s, filters=QueueFilters(**kw), page=page, page_size=page_size)


def test_queue_sorts_least_certain_first_and_paginates(database: Database) -> None:
    seeded = _seed(database)
    first = _queue(database, page_size=4)
    assert first.total == 6 and first.n_pages == 2
    assert [r.video_id for r in first.rows] == seeded["ids"][::-1][:4]
    second = _queue(database, page=2, page_size=4)
    assert [r.video_id for r in second.rows] == seeded["ids"][::-1][4:]
    assert (first.rows[0].top_tag, first.rows[0].confidence) == ("Music", pytest.approx(0.5))
    assert (first.rows[1].top_tag, first.rows[1].state) == ("Sports: Soccer", "predicted")


def test_search_finds_a_video_by_the_platforms_id_or_its_own(database: Database) -> None:
    """A takedown request names the platform's id: the search box takes it, and ``#N``."""
    ids = _seed(database)["ids"]
    with database.session() as s:
        theirs = videos.create_video(
            s, title="nothing in common", external_id="yt-123", status=VideoStatus.READY
        ).id
    assert [r.video_id for r in _queue(database, search="yt-123").rows] == [theirs]
    assert _queue(database, search="yt-12").total == 0  # the whole id, not a part of it
    assert [r.video_id for r in _queue(database, search=f"#{ids[2]}").rows] == [ids[2]]
    assert _queue(database, search="#99999999999").total == 0  # too long for an id: title words


def test_queue_filters(database: Database) -> None:
    seeded = _seed(database)
    ids = seeded["ids"]
    assert {r.video_id for r in _queue(database, tag="s").rows} == set(
        ids[0::2]
    )  # subtree of Sports
    assert {r.video_id for r in _queue(database, tag="m").rows} == set(ids[1::2])
    # confidence = 1 - uncertainty in [0.75, 1] -> uncertainty 0, .1, .2
    assert {r.video_id for r in _queue(database, confidence=(0.75, 1.0)).rows} == set(ids[:3])
    assert [r.video_id for r in _queue(database, search="CLIP 3").rows] == [ids[3]]
    assert _queue(database, search="%").total == 0  # LIKE wildcards are literal
    assert _queue(database, statuses=("reviewed",)).total == 0
    today = utcnow().date()
    assert _queue(database, created_from=today, created_to=today).total == 6
    assert _queue(database, created_to=today - timedelta(days=1)).total == 0
    with pytest.raises(ValueError, match="unknown queue state"):
        QueueFilters(statuses=("bogus",))


# (title, how the video reaches the Sports subtree, through which node, uncertainty or None =
# unpredicted). "top": its top tag; "predicted": a non-top prediction of its current model;
# "label": an imported label. Never matching: "weak" (stored below the threshold), "old_model"
# (an earlier model's prediction), "none".
_CORPUS = [
    ("Grand PIANO recital", "top", "s.ten", 0.9),
    ("piano at the goal", "predicted", "s.soc", 0.3),
    ("Piano, weak guess", "weak", "s.soc", 0.8),
    ("piano, old model", "old_model", "s.ten", 0.7),
    ("pia_o labelled", "label", "s.ten", 0.5),
    ("100% piano", "top", "s.soc", 0.5),  # same uncertainty as the one above: id breaks the tie
    ("back\\slash piano", "none", None, 0.2),
    ("pianist", "top", "s.soc", 0.1),
    ("unpredicted piano", "label", "s.soc", None),
    ("plain music", "none", None, 0.6),
    ("50 % off", "top", "s.ten", 0.4),
    ("piano", "label", "s", 0.05),
]
_SUBTREES = {"s": {"s", "s.soc", "s.ten"}, "s.soc": {"s.soc"}, "s.ten": {"s.ten"}}


def _seed_corpus(db: Database) -> list[int]:
    """The videos of :data:`_CORPUS` (ids in its order) under the tiny taxonomy."""
    with db.session() as s:
        _put_taxonomy(s)
        old, current = (
            models.create_model_version(s, encoder_id="lite", encoder_version=v) for v in ("1", "2")
        )
        for model in (old, current):
            models.finish_model_version(s, model_version_id=model.id, status="ready")
        ids, old_rows, rows, summaries, imported = [], [], [], [], []
        for title, route, node, uncertainty in _CORPUS:
            vid = videos.create_video(s, title=title, status=VideoStatus.READY).id
            ids.append(vid)
            top = node if route == "top" else "m"
            if uncertainty is not None:
                rows.append(PredictionRow(vid, top, 0.9, True))
                summaries.append(
                    PredictionSummary(video_id=vid, uncertainty=uncertainty, top_tag=top)
                )
            if route == "predicted":
                rows.append(PredictionRow(vid, node, 0.6, True))
            elif route == "weak":
                rows.append(PredictionRow(vid, node, 0.4, False))
            elif route == "old_model":
                old_rows.append(PredictionRow(vid, node, 0.9, True))
            elif route == "label":
                imported.append((vid, node))
        models.put_predictions(s, model_version_id=old.id, rows=old_rows)
        models.put_predictions(s, model_version_id=current.id, rows=rows)
        videos.set_prediction_summaries(s, model_version_id=current.id, summaries=summaries)
        labels.import_labels(s, labels=imported)
    return ids


def _expected_ids(ids: list[int], filters: QueueFilters) -> set[int]:
    """The corpus videos the filters describe, read straight from :data:`_CORPUS`."""
    wanted = set()
    for vid, (title, route, node, uncertainty) in zip(ids, _CORPUS, strict=True):
        status = "predicted" if uncertainty is not None else "ready"
        if filters.statuses and status not in filters.statuses:
            continue
        if filters.tag and not (
            route in ("top", "predicted", "label") and node in _SUBTREES[filters.tag]
        ):
            continue
        if filters.search.strip().lower() not in title.lower():
            continue
        wanted.add(vid)
    return wanted


@pytest.mark.parametrize("sort", review.SORTS)
def test_search_and_tag_filters_return_exactly_the_matching_videos(
    database: Database, sort: str
) -> None:
    """Every page of a filtered queue holds the matching videos, in the unfiltered queue's order,
    with the right total, whichever way it is sorted; LIKE wildcards and backslashes are literal.

    The 56 listings share one read-only session (a DuckDB session opens the file: ~0.1 s each)."""
    ids = _seed_corpus(database)
    with database.session() as s:
        _assert_filtered_pages(s, ids, sort)


def _assert_filtered_pages(s: Session, ids: list[int], sort: str) -> None:
    """The assertions of the test above, for one sort order, on one session."""

    def queue(page: int, page_size: int, **kw) -> review.QueuePage:
        filters = QueueFilters(sort=sort, **kw)
        return review.list_queue(s, filters=filters, page=page, page_size=page_size)

    everything = queue(1, 100)
    assert everything.total == len(_CORPUS)
    for kw in (
        {"search": "piano"},
        {"search": "  PIANO "},
        {"tag": "s"},
        {"tag": "s.ten"},
        {"search": "Piano", "tag": "s"},
        {"search": "piano", "tag": "s.soc"},
        {"search": "piano", "tag": "s", "statuses": ("ready",)},
        {"search": "a_o"},
        {"search": "0%"},
        {"search": "\\"},
        {"search": "no such title", "tag": "s"},
    ):
        filters = QueueFilters(sort=sort, **kw)
        wanted = _expected_ids(ids, filters)
        expected = [row for row in everything.rows if row.video_id in wanted]
        pages = [queue(page, 3, **kw) for page in (1, 2, 3, 4, 5)]
        assert [row for p in pages for row in p.rows] == expected, kw
        assert [p.total for p in pages] == [len(wanted)] * 5, kw
        assert pages[0].n_pages == max(1, -(-len(wanted) // 3)), kw


def _ranks(db: Database, ids: list[int]) -> list[int | None]:
    with db.session() as s:
        return [v.review_rank for v in videos.get_videos(s, video_ids=ids)]


def test_a_queue_row_names_the_tag_the_model_is_least_sure_about(database: Database) -> None:
    seeded = _seed(database)
    ids = seeded["ids"]
    with database.session() as s:
        summary = PredictionSummary(ids[0], 0.0, "s.soc", doubt_tag="s.ten")
        videos.set_prediction_summaries(s, model_version_id=seeded["model"], summaries=[summary])
    rows = {r.video_id: r for r in _queue(database).rows}
    assert rows[ids[0]].least_sure_about == "Sports: Tennis"
    assert rows[ids[1]].least_sure_about is None  # predicted before it was recorded
    searched = _queue(database, search="clip", tag="s").rows  # the one-pass query, too
    assert {r.video_id: r.least_sure_about for r in searched}[ids[0]] == "Sports: Tennis"


def test_default_sort_follows_the_review_rank_then_least_certain_first(
    database: Database,
) -> None:
    """Issue 17: the ranked pool in its order, then unranked videos least certain first, then
    unpredicted ones; "review next" takes the first ranked video."""
    seeded = _seed(database)  # video i has uncertainty i/10
    ids = seeded["ids"]
    with database.session() as s:
        ranked = [ids[1], ids[3], ids[0]]
        assert (
            videos.set_review_ranks(
                s,
                model_version_id=seeded["model"],
                ranked_ids=ranked,
                pool_read_at=utcnow(),
                ranked_by="badge",
            )
            == 3
        )
        unpredicted = videos.create_video(s, title="raw", status=VideoStatus.READY).id
    order = [ids[1], ids[3], ids[0], ids[5], ids[4], ids[2], unpredicted]
    assert [r.video_id for r in _queue(database).rows] == order
    assert [r.video_id for r in _queue(database, page=2, page_size=3).rows] == order[3:6]
    assert [r.video_id for r in _queue(database, sort="uncertainty").rows] == [
        *ids[::-1],
        unpredicted,
    ]
    with database.session() as s:
        claimed = review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10)
    assert claimed.id == ids[1]


def test_new_ranks_replace_the_old_and_a_new_prediction_clears_a_rank(database: Database) -> None:
    seeded = _seed(database)
    ids, version = seeded["ids"], seeded["model"]
    with database.session() as s:
        videos.set_review_ranks(
            s,
            model_version_id=version,
            ranked_ids=ids[:4],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    assert _ranks(database, ids) == [0, 1, 2, 3, None, None]
    with database.session() as s:
        assert (
            videos.set_review_ranks(
                s,
                model_version_id=version,
                ranked_ids=ids[:1:-1],
                pool_read_at=utcnow(),
                ranked_by="badge",
            )
            == 4
        )
    assert _ranks(database, ids) == [None, None, 3, 2, 1, 0]
    with database.session() as s:
        other = models.create_model_version(s, encoder_id="lite", encoder_version="1")
        summary = PredictionSummary(video_id=ids[4], uncertainty=0.3, top_tag="m")
        videos.set_prediction_summaries(s, model_version_id=other.id, summaries=[summary])
    assert _ranks(database, ids) == [None, None, 3, 2, None, 0]  # its rank was the old model's
    with database.session() as s:
        assert videos.review_pool_ids(s, model_version_id=version) == [*ids[:4], ids[5]]
        # a video predicted by another version since the pool was read is left unranked
        assert (
            videos.set_review_ranks(
                s,
                model_version_id=version,
                ranked_ids=ids[4:],
                pool_read_at=utcnow(),
                ranked_by="badge",
            )
            == 1
        )
    assert _ranks(database, ids) == [None, None, None, None, None, 1]


def test_before_any_model_the_ready_videos_are_the_pool_and_take_the_ranks(
    database: Database,
) -> None:
    """The coverage order before the first model ranks processed, never-predicted videos."""
    seeded = _seed(database)  # six predicted videos
    with database.session() as s:
        ready = [videos.create_video(s, title=f"r{i}", status=VideoStatus.READY).id for i in (0, 1)]
        new = videos.create_video(s, title="n", status=VideoStatus.NEW).id
        assert videos.unpredicted_pool_ids(s) == ready
        ranked = [ready[1], seeded["ids"][0], new, ready[0]]
        assert (
            videos.set_review_ranks(
                s,
                model_version_id=None,
                ranked_ids=ranked,
                pool_read_at=utcnow(),
                ranked_by="coverage",
            )
            == 2
        )
    assert _ranks(database, [seeded["ids"][0], *ready, new]) == [None, 3, 0, None]


def test_a_ranking_is_recorded_and_the_videos_arriving_after_it_are_counted(
    database: Database,
) -> None:
    """The queue's last ranking (when it read its pool, by which version, how many) and the
    unranked videos that reached that version's pool after it: what the server's ranker reads."""
    seeded = _seed(database, n=4)
    ids, version = seeded["ids"], seeded["model"]
    read_at = utcnow()
    with database.session() as s:
        assert videos.get_queue_ranking(s) is None
        first = videos.confirm_queue_ranking(s, at=read_at, model_version_id=version)
        assert (first.videos, first.ranked_by) == (0, None)  # checked, nothing ranked
        videos.set_review_ranks(
            s, model_version_id=version, ranked_ids=ids[:3], pool_read_at=read_at, ranked_by="badge"
        )
        last = videos.get_queue_ranking(s)
        assert (last.ranked_at, last.model_version_id, last.videos) == (read_at, version, 3)
        # ids[3] was in the pool when it was read (no embeddings, say): not an arrival
        assert videos.unranked_arrivals(s, model_version_id=version, since=read_at) == (0, None)
        assert videos.unranked_arrivals(s, model_version_id=version, since=None)[0] == 1
    with database.session() as s:  # two arrivals: a new prediction, a new video predicted
        arrived = videos.create_video(s, title="upload", status=VideoStatus.READY).id
        summaries = [
            PredictionSummary(video_id=v, uncertainty=0.5, top_tag="m") for v in (ids[0], arrived)
        ]
        videos.set_prediction_summaries(s, model_version_id=version, summaries=summaries)
        videos.create_video(s, title="not yet predicted", status=VideoStatus.READY)
    with database.session() as s:
        count, first = videos.unranked_arrivals(s, model_version_id=version, since=read_at)
        assert count == 2 and first > read_at
        # a ranking that found nothing to rank: the order stands, the arrivals are seen to
        confirmed = videos.confirm_queue_ranking(s, at=utcnow(), model_version_id=None)
        assert (confirmed.model_version_id, confirmed.videos, confirmed.ranked_by) == (
            version,
            3,
            "badge",
        )
        assert (
            videos.unranked_arrivals(s, model_version_id=version, since=confirmed.ranked_at)[0] == 0
        )
        # before the first model the pool is the processed, unpredicted videos
        assert videos.unranked_arrivals(s, model_version_id=None, since=read_at)[0] == 1
        assert videos.unranked_arrivals(s, model_version_id=None, since=utcnow()) == (0, None)


def test_a_video_leaving_the_pool_loses_its_rank_and_returns_after_the_ranked_ones(
    database: Database,
) -> None:
    """Issue 17: a skipped video is still in the pool and keeps its place; a reviewed one loses
    its rank, so neither the listing nor a return to the queue (a second review, a lead's
    reject) puts it at its old place: it waits with the unranked videos, least certain first."""
    seeded = _seed(database)  # video i has uncertainty i/10
    ids, alice, bob = seeded["ids"], seeded["alice"], seeded["bob"]
    with database.session() as s:
        lee = users.create_user(s, username="lee", password_hash="x", role="lead")
        videos.set_review_ranks(
            s,
            model_version_id=seeded["model"],
            ranked_ids=[ids[1], ids[3]],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
    with database.session() as s:
        skipped = review_rules.claim_next(s, user=bob, claim_minutes=10)
        review_rules.release_claim(s, video_id=skipped.id, user=bob, skipped=True)
    assert skipped.id == ids[1] and _ranks(database, [ids[1]]) == [0]
    with database.session() as s:
        first = review_rules.claim_next(s, user=alice, claim_minutes=10)
        review_rules.save_review(
            s, video_id=first.id, expected_version=first.version, node_ids=["m"], user=alice
        )
        second = review_rules.claim_next(s, user=alice, claim_minutes=10)
        review_rules.save_review(
            s, video_id=second.id, expected_version=second.version, node_ids=["m"], user=alice
        )
    assert (first.id, second.id) == (ids[1], ids[3])
    assert _ranks(database, [ids[1], ids[3]]) == [None, None]
    by_uncertainty = [ids[5], ids[4], ids[3], ids[2], ids[1], ids[0]]
    assert [r.video_id for r in _queue(database).rows] == by_uncertainty

    with database.session() as s:
        videos.set_review_ranks(
            s,
            model_version_id=seeded["model"],
            ranked_ids=[ids[0]],
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
        review_rules.send_back_for_review(s, video_ids=[ids[1]], user=alice, reason="check")
        lead_review.reject(s, video_id=ids[3], comment="it is tennis", user=lee)
    assert _ranks(database, ids) == [0, None, None, None, None, None]
    predicted = _queue(database, statuses=(VideoStatus.PREDICTED.value, IN_REVIEW))
    assert [r.video_id for r in predicted.rows] == [ids[0], ids[5], ids[4], ids[3], ids[2], ids[1]]


def test_a_video_processed_again_or_failed_loses_its_rank(database: Database) -> None:
    seeded = _seed(database, n=3)
    ids = seeded["ids"]
    with database.session() as s:
        videos.set_review_ranks(
            s,
            model_version_id=seeded["model"],
            ranked_ids=ids,
            pool_read_at=utcnow(),
            ranked_by="badge",
        )
        videos.set_status(s, video_id=ids[0], status=VideoStatus.PROCESSING)
        videos.set_status(s, video_id=ids[1], status=VideoStatus.FAILED, error="broken file")
    assert _ranks(database, ids) == [None, None, 2]


def test_claimed_video_shows_in_review_with_assignee(database: Database) -> None:
    seeded = _seed(database)
    with database.session() as s:
        claimed = review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10)
    assert claimed.id == seeded["ids"][-1]  # most uncertain
    rows = _queue(database, statuses=(IN_REVIEW,)).rows
    assert [(r.video_id, r.state, r.assignee) for r in rows] == [(claimed.id, IN_REVIEW, "alice")]
    assert claimed.id not in {r.video_id for r in _queue(database, statuses=("predicted",)).rows}
    assert [r.video_id for r in _queue(database, assignee_id=seeded["alice"].id).rows] == [
        claimed.id
    ]
    with database.session() as s:
        counts = review.queue_counts(s)
    assert counts[IN_REVIEW] == 1 and counts["predicted"] == 5


def test_two_moderators_never_get_the_same_video(database: Database) -> None:
    seeded = _seed(database, n=3)
    with database.session() as s:
        a = review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10)
    with database.session() as s:
        b = review_rules.claim_next(s, user=seeded["bob"], claim_minutes=10)
    assert a.id != b.id
    with database.session() as s, pytest.raises(VideoClaimedError, match="alice"):
        review_rules.claim_video(s, video_id=a.id, user=seeded["bob"], claim_minutes=10)
    # alice asking again resumes her own claim
    with database.session() as s:
        assert review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10).id == a.id


def test_concurrent_claims_are_exclusive(database: Database) -> None:
    seeded = _seed(database, n=4)
    with database.session() as s:
        mods = [users.create_user(s, username=f"mod{i}", password_hash="x") for i in range(6)]
    got: list[int | None] = []
    lock = threading.Lock()

    def worker(user) -> None:
        with database.session() as s:
            video = review_rules.claim_next(s, user=user, claim_minutes=10)
        with lock:
            got.append(video.id if video else None)

    threads = [threading.Thread(target=worker, args=(m,)) for m in mods]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [g for g in got if g is not None]
    assert sorted(claimed) == sorted(seeded["ids"])  # 4 videos, each claimed once
    assert got.count(None) == 2


def test_expired_claim_can_be_taken_over(database: Database) -> None:
    seeded = _seed(database, n=1)
    past = utcnow() - timedelta(hours=1)
    with database.session() as s:
        review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10, now=past)
    with database.session() as s:
        video = review_rules.claim_next(s, user=seeded["bob"], claim_minutes=10)
    assert video is not None and video.claimed_by == seeded["bob"].id


def test_skip_releases_and_excludes(database: Database) -> None:
    seeded = _seed(database, n=2)
    with database.session() as s:
        first = review_rules.claim_next(s, user=seeded["alice"], claim_minutes=10)
        assert review_rules.release_claim(s, video_id=first.id, user=seeded["alice"], skipped=True)
        assert not review_rules.release_claim(s, video_id=first.id, user=seeded["bob"])
        second = review_rules.claim_next(
            s, user=seeded["alice"], claim_minutes=10, exclude_ids=[first.id]
        )
        assert second.id != first.id
        assert (
            review_rules.claim_next(
                s, user=seeded["alice"], claim_minutes=10, exclude_ids=[first.id, second.id]
            )
            is None
        )
        actions = [a.action for a in audit.list_audit(s, video_id=first.id)]
    assert AuditAction.RELEASE in actions


def test_save_clears_claim_and_send_back_reopens(database: Database) -> None:
    seeded = _seed(database, n=2)
    alice = seeded["alice"]
    with database.session() as s:
        video = review_rules.claim_next(s, user=alice, claim_minutes=10)
        loaded_version = video.version
        review_rules.save_review(
            s, video_id=video.id, expected_version=loaded_version, node_ids=["m"], user=alice
        )
    assert _queue(database, statuses=("reviewed",)).rows[0].assignee == "alice"
    with database.session() as s:
        assert (
            review_rules.send_back_for_review(
                s, video_ids=[video.id, seeded["ids"][0]], user=alice, reason="check"
            )
            == 1
        )
        again = videos.get_video(s, video_id=video.id)
    assert again.status == VideoStatus.PREDICTED and again.flagged and "check" in again.flag_reason
    assert again.version == loaded_version + 2  # the save and the send-back


def test_flag_and_unflag(database: Database) -> None:
    seeded = _seed(database, n=2)
    vid = seeded["ids"][0]
    with database.session() as s:
        review_rules.set_flag(
            s, video_id=vid, user=seeded["bob"], flagged=True, reason="audio broken"
        )
    assert [r.video_id for r in _queue(database, flagged_only=True).rows] == [vid]
    with database.session() as s:
        video = review_rules.set_flag(s, video_id=vid, user=seeded["bob"], flagged=False)
    assert not video.flagged and video.flag_reason is None


def test_urgent_then_high_videos_come_first_the_longest_waiting_first(database: Database) -> None:
    """Priority goes before the learning order: on the queue's default page and for Review
    next whatever the sort; among equals the video raised longest ago; a new reason for the
    same level keeps its place, a new level starts again; normal clears it all."""
    seeded = _seed(database)  # least certain first: ids[5], ids[4], ..., ids[0]
    ids, alice = seeded["ids"], seeded["alice"]
    t0 = utcnow()
    with database.session() as s:
        for video_id, level, minutes in (
            (ids[0], ReviewPriority.HIGH, 0),
            (ids[1], ReviewPriority.URGENT, 2),
            (ids[2], ReviewPriority.URGENT, 1),
        ):
            review_rules.set_priority(
                s,
                video_id=video_id,
                user=alice,
                priority=level,
                reason=f"reported {minutes}",
                now=t0 + timedelta(minutes=minutes),
            )
    expected = [ids[2], ids[1], ids[0], ids[5], ids[4], ids[3]]
    assert [r.video_id for r in _queue(database).rows] == expected
    assert [r.priority for r in _queue(database).rows[:4]] == [2, 2, 1, 0]
    assert [r.video_id for r in _queue(database, prioritized_only=True).rows] == expected[:3]
    # a chosen sort orders the page as asked, but Review next still takes the most urgent
    assert _queue(database, sort="newest").rows[0].video_id == ids[5]
    with database.session() as s:
        for limit, expected_head in ((2, expected[:2]), (5, [*expected[:3], ids[5], ids[4]])):
            assert (
                review.claim_candidates(
                    s,
                    filters=QueueFilters(sort="newest"),
                    statuses=[VideoStatus.PREDICTED],
                    user=alice,
                    now=utcnow(),
                    limit=limit,
                )
                == expected_head
            )
    with database.session() as s:
        claimed = review_rules.claim_next(
            s, user=alice, filters=QueueFilters(sort="newest"), claim_minutes=10
        )
    assert claimed.id == ids[2]
    with database.session() as s:
        again = review_rules.set_priority(
            s,
            video_id=ids[2],
            user=alice,
            priority=ReviewPriority.URGENT,
            reason="  more  reports ",
        )
        assert again.priority_reason == "more reports"
        assert again.prioritized_at == t0 + timedelta(minutes=1)  # same level: same place
        raised = review_rules.set_priority(
            s, video_id=ids[0], user=alice, priority=ReviewPriority.URGENT, now=t0
        )
        assert raised.prioritized_at == t0 and raised.priority_reason is None
        with pytest.raises(review_rules.PriorityPermissionError, match="alice is moderator"):
            review_rules.set_priority(  # raising is anyone's, lowering a lead's
                s, video_id=ids[1], user=alice, priority=ReviewPriority.HIGH
            )
        lead = users.create_user(s, username="lea", password_hash="x", role="lead")
        lowered = review_rules.set_priority(
            s, video_id=ids[1], user=lead, priority=ReviewPriority.NORMAL, reason="ignored"
        )
        assert (lowered.priority, lowered.priority_reason, lowered.prioritized_at) == (
            0,
            None,
            None,
        )
        entries = audit.list_audit(s, action=AuditAction.PRIORITY_SET)
    assert [r.video_id for r in _queue(database).rows][:3] == [ids[0], ids[2], ids[5]]
    assert {e.video_id for e in entries} == {ids[0], ids[1], ids[2]}
    details = [e.detail_json for e in entries if e.video_id == ids[1]]
    assert {"priority": "normal", "before": "urgent", "reason": ""} in [
        json.loads(d) for d in details
    ]


def test_a_claim_above_a_priority_takes_only_a_higher_one_and_not_ones_own(
    database: Database,
) -> None:
    """What the Review page asks when a video was raised while the next one was prepared: only
    a video of a higher priority than the prepared one's is claimed (under any sort), never a
    claim the moderator holds (the prepared video itself), nothing when none is higher."""
    seeded = _seed(database)
    ids, alice = seeded["ids"], seeded["alice"]
    with database.session() as s:
        prepared = review_rules.claim_next(s, user=alice, claim_minutes=10)
        assert prepared.id == ids[5]  # least certain first
        for sort in ("review_rank", "newest"):
            nothing = review_rules.claim_next(
                s,
                user=alice,
                filters=QueueFilters(sort=sort),
                claim_minutes=10,
                above=ReviewPriority.NORMAL,
            )
            assert nothing is None
        review_rules.set_priority(s, video_id=ids[1], user=alice, priority=ReviewPriority.HIGH)
        review_rules.set_priority(s, video_id=ids[0], user=alice, priority=ReviewPriority.URGENT)
        above_high = review_rules.claim_next(
            s,
            user=alice,
            filters=QueueFilters(sort="newest"),
            claim_minutes=10,
            above=ReviewPriority.HIGH,
        )
        assert above_high.id == ids[0]
        above_normal = review_rules.claim_next(
            s, user=alice, claim_minutes=10, above=ReviewPriority.NORMAL, exclude_ids=[ids[0]]
        )
        assert above_normal.id == ids[1]
        assert (
            review_rules.claim_next(s, user=alice, claim_minutes=10, above=ReviewPriority.URGENT)
            is None
        )
        # without ``above`` the moderator's own claims come back first, the prepared one among them
        mine = review_rules.claim_next(
            s, user=alice, claim_minutes=10, exclude_ids=[ids[0], ids[1]]
        )
        assert mine.id == prepared.id


def test_an_unknown_priority_or_a_long_reason_is_refused_in_words(database: Database) -> None:
    seeded = _seed(database, n=1)
    assert review_rules.parse_priority(" Urgent ") == ReviewPriority.URGENT
    with pytest.raises(review_rules.PriorityInputError, match="expected one of normal, high"):
        review_rules.parse_priority("asap")
    with database.session() as s, pytest.raises(review_rules.PriorityInputError, match="501"):
        review_rules.set_priority(
            s,
            video_id=seeded["ids"][0],
            user=None,
            priority=ReviewPriority.HIGH,
            reason="x" * 501,
        )
    with database.session() as s, pytest.raises(NotFoundError):
        review_rules.set_priority(s, video_id=999, user=None, priority=ReviewPriority.HIGH)


_CLAIMER = """
import sys
from core import lead_review
from core import review as review_rules
from db.engine import Database
from db.queries import users
db = Database(sys.argv[1])
with db.session() as s:
    me = users.get_user_by_name(s, username=sys.argv[2])
got = []
while True:
    with db.session() as s:
        video = review_rules.claim_next(s, user=me, claim_minutes=10, exclude_ids=got)
    if video is None:
        break
    got.append(video.id)
print(",".join(map(str, got)))
"""


@pytest.mark.slow
def test_claims_are_exclusive_across_processes(duck: Database) -> None:
    """Four moderator processes drain one DuckDB queue: every video is claimed exactly once."""
    seeded = _seed(duck, n=40)
    with duck.session() as s:
        names = [
            users.create_user(s, username=f"proc{i}", password_hash="x").username for i in range(4)
        ]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, duck.url, name], stdout=subprocess.PIPE, text=True
        )
        for name in names
    ]
    claimed = []
    for proc in procs:
        out, _ = proc.communicate(timeout=300)
        assert proc.returncode == 0
        claimed += [int(x) for x in out.strip().split(",") if x]
    assert sorted(claimed) == sorted(seeded["ids"])  # none twice, none lost
