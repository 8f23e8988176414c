"""The moderators' review queue: filtered listing, and the claim writes (the rules of who gets
which video live in ``core.review``).

A claim is ``Video.claimed_by`` + ``Video.claim_expires_at``. It is taken with one conditional
``UPDATE ... WHERE unclaimed-or-expired-or-mine ... RETURNING``, which is atomic on both
backends: on PostgreSQL the second of two concurrent updates re-checks the condition after the
first commits and matches nothing; on DuckDB units of work are serialised by the file lock.
The display state ``in_review`` means "actively claimed"; it is not stored.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    Column,
    Integer,
    Row,
    String,
    and_,
    column,
    func,
    or_,
    true,
    tuple_,
    update,
    values,
)
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery
from sqlalchemy.sql.util import ClauseAdapter
from sqlalchemy.sql.visitors import iterate
from sqlmodel import Session, col, select

from db.queries import Actor, DatabaseError, NotFoundError
from db.queries import quality as quality_q
from db.queries import taxonomy as taxonomy_q
from db.queries import users as users_q
from db.queries.audit import add_audit
from db.tables import (
    AuditAction,
    AuditLog,
    Label,
    Prediction,
    ReviewPriority,
    ReviewTargets,
    TaxonomyEdge,
    User,
    Video,
    VideoStatus,
    utcnow,
)

IN_REVIEW = "in_review"
QUEUE_STATES = (
    VideoStatus.NEW.value,
    VideoStatus.PROCESSING.value,
    VideoStatus.READY.value,
    VideoStatus.PREDICTED.value,
    IN_REVIEW,
    VideoStatus.REVIEWED.value,
    VideoStatus.FAILED.value,
)
SORTS = ("review_rank", "uncertainty", "newest", "oldest", "title")
VIDEO_ID = re.compile(r"#\d{1,9}")  # "#42" in the search box: video 42 (ids fit in 32 bits)


class VideoClaimedError(DatabaseError):
    """Another moderator holds an unexpired claim on the video."""


@dataclass(frozen=True)
class QueueFilters:
    """What the queue page shows. Empty/None fields do not filter.

    ``search``: title words, the platform's id or ``#N`` (:func:`_search`). ``confidence`` is a
    (low, high) range of ``1 - Video.uncertainty``; videos without a prediction never match it.
    ``tag`` matches videos predicted (by their current model) or labelled with that node or a
    narrower one. ``assignee_id`` matches the active claimer or the reviewer. Dates are
    inclusive UTC days of ``created_at``.
    """

    statuses: tuple[str, ...] = ()
    tag: str | None = None
    confidence: tuple[float, float] | None = None
    assignee_id: int | None = None
    created_from: date | None = None
    created_to: date | None = None
    search: str = ""
    flagged_only: bool = False
    prioritized_only: bool = False  # high or urgent (ReviewPriority) only
    sort: str = "review_rank"

    def __post_init__(self) -> None:
        unknown = set(self.statuses) - set(QUEUE_STATES)
        if unknown:
            raise ValueError(
                f"unknown queue state(s) {sorted(unknown)}; expected some of {QUEUE_STATES}"
            )
        if self.sort not in SORTS:
            raise ValueError(f"unknown sort {self.sort!r}; expected one of {SORTS}")
        if (
            self.confidence is not None
            and not 0.0 <= self.confidence[0] <= self.confidence[1] <= 1.0
        ):
            raise ValueError(
                f"confidence range must satisfy 0 <= low <= high <= 1, got {self.confidence}"
            )


@dataclass(frozen=True)
class QueueRow:
    video_id: int
    title: str
    state: str  # a QUEUE_STATES value
    top_tag: str | None  # full path
    confidence: float | None  # 1 - uncertainty
    least_sure_about: str | None  # full path of the tag whose decision is the closest call
    assignee: str | None  # active claimer, else reviewer
    flagged: bool
    priority: int  # a ReviewPriority value
    prioritized_at: datetime | None  # when it was raised to that priority
    created_at: datetime
    error: str | None


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    page: int
    page_size: int

    @property
    def n_pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


@dataclass(frozen=True)
class ClaimInfo:
    video_id: int
    claimed_by: int | None
    claimer: str | None
    expires_at: datetime | None
    version: int = 0
    status: str = ""
    held: bool = False  # held (unexpired) by the asking user


def _now(now: datetime | None) -> datetime:
    return now if now is not None else utcnow()


def _active_claim(now: datetime) -> ColumnElement[bool]:
    return and_(col(Video.claimed_by).is_not(None), col(Video.claim_expires_at) > now)


def _no_active_claim(now: datetime) -> ColumnElement[bool]:
    return or_(
        col(Video.claimed_by).is_(None),
        col(Video.claim_expires_at).is_(None),
        col(Video.claim_expires_at) <= now,
    )


def subtree_ids(session: Session, *, node_id: str) -> list[str]:
    """``node_id`` and every node below it (DAG-aware, via the edges)."""
    children: dict[str, list[str]] = {}
    for parent, child in session.exec(select(TaxonomyEdge.parent_id, TaxonomyEdge.child_id)):
        children.setdefault(parent, []).append(child)
    seen, stack = {node_id}, [node_id]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return sorted(seen)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search(session: Session, text: str) -> ColumnElement[bool]:
    """What a moderator types in the queue's search box: words of the title, the platform's own
    id (``external_id``, exactly, e.g. from a takedown request), or ``#N`` for video N. The
    platform's id is looked up first (one indexed read), so the scan of the title search does not
    also compare every row's external id (+30 % on a million videos)."""
    ids = list(session.exec(select(Video.id).where(col(Video.external_id) == text)))
    if VIDEO_ID.fullmatch(text):
        ids.append(int(text[1:]))
    title = _title_contains(text)
    return or_(title, col(Video.id).in_(ids)) if ids else title


def _title_contains(text: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on the title; LIKE wildcards in ``text`` are literal.

    The ESCAPE clause is written only when ``text`` holds a wildcard or a backslash: DuckDB runs
    a plain ILIKE about twice as fast, and without those characters the pattern means the same
    on both backends (PostgreSQL's default escape character is the backslash).
    """
    if any(char in text for char in "\\%_"):
        return col(Video.title).ilike(f"%{_escape_like(text)}%", escape="\\")
    return col(Video.title).ilike(f"%{text}%")


def _conditions(
    session: Session, filters: QueueFilters, now: datetime
) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if filters.statuses:
        stored = [s for s in filters.statuses if s != IN_REVIEW]
        either: list[ColumnElement[bool]] = []
        if IN_REVIEW in filters.statuses:
            either.append(_active_claim(now))
        if stored:
            either.append(and_(col(Video.status).in_(stored), _no_active_claim(now)))
        conds.append(or_(*either))
    if filters.tag:
        nodes = subtree_ids(session, node_id=filters.tag)
        # uncorrelated semi-joins: about twice as fast as EXISTS on DuckDB at 1M videos
        predicted = tuple_(col(Video.id), col(Video.predicted_model_id)).in_(
            select(Prediction.video_id, Prediction.model_version_id).where(
                col(Prediction.node_id).in_(nodes), col(Prediction.is_predicted)
            )
        )
        labelled = col(Video.id).in_(select(Label.video_id).where(col(Label.node_id).in_(nodes)))
        conds.append(or_(col(Video.top_tag).in_(nodes), predicted, labelled))
    if filters.confidence is not None and filters.confidence != (0.0, 1.0):
        low, high = filters.confidence
        conds.append(col(Video.uncertainty).between(1.0 - high, 1.0 - low))
    if filters.assignee_id is not None:
        conds.append(
            or_(
                and_(col(Video.claimed_by) == filters.assignee_id, _active_claim(now)),
                col(Video.reviewed_by) == filters.assignee_id,
            )
        )
    if filters.created_from is not None:
        conds.append(col(Video.created_at) >= datetime.combine(filters.created_from, time.min, UTC))
    if filters.created_to is not None:
        end = datetime.combine(filters.created_to + timedelta(days=1), time.min, UTC)
        conds.append(col(Video.created_at) < end)
    if filters.search.strip():
        conds.append(_search(session, filters.search.strip()))
    if filters.flagged_only:
        conds.append(col(Video.flagged))
    if filters.prioritized_only:
        conds.append(col(Video.priority) > ReviewPriority.NORMAL)
    return conds


# the most urgent first, among equals the one raised longest ago (normal ones have no time)
_PRIORITY_FIRST = (col(Video.priority).desc(), col(Video.prioritized_at).nulls_last())


def _order(sort: str) -> list[ColumnElement]:
    least_certain_first = col(Video.uncertainty).desc().nulls_last()  # unpredicted last
    if sort == "review_rank":  # Review next's order: by priority, the ranked pool in its order,
        # then the rest least certain first
        return [
            *_PRIORITY_FIRST,
            col(Video.review_rank).nulls_last(),
            least_certain_first,
            col(Video.id),
        ]
    if sort == "uncertainty":
        return [least_certain_first, col(Video.id)]
    if sort == "newest":
        return [col(Video.created_at).desc(), col(Video.id).desc()]
    if sort == "oldest":
        return [col(Video.created_at), col(Video.id)]
    return [col(Video.title), col(Video.id)]


_PAGE_COLUMNS = (
    Video.id,
    Video.title,
    Video.status,
    Video.top_tag,
    Video.uncertainty,
    Video.doubt_tag,
    Video.claimed_by,
    Video.claim_expires_at,
    Video.reviewed_by,
    Video.flagged,
    Video.priority,
    Video.prioritized_at,
    Video.created_at,
    Video.error,
)


def _count(session: Session, conds: list[ColumnElement[bool]]) -> int:
    return session.exec(select(func.count()).select_from(Video).where(*conds)).one()


def _page_then_count(
    session: Session,
    conds: list[ColumnElement[bool]],
    order: list[ColumnElement],
    *,
    offset: int,
    limit: int,
) -> tuple[Sequence[Row], int]:
    """The page, then the number of matches: two queries, right when the conditions are cheap
    (none, or plain column tests), as a top-N and a count keep no rows where a window count
    would hold every match."""
    rows = session.exec(
        select(*_PAGE_COLUMNS).where(*conds).order_by(*order).offset(offset).limit(limit)
    ).all()
    return rows, _count(session, conds)


def _page_and_count_in_one_pass(
    session: Session,
    conds: list[ColumnElement[bool]],
    order: list[ColumnElement],
    *,
    offset: int,
    limit: int,
) -> tuple[Sequence[Row], int]:
    """The page and the number of matches from ONE evaluation of costly conditions.

    A title search or a tag subtree is checked row by row over the whole table (and the
    predictions), so counting and then paging did that work twice. ``count(*) OVER ()`` rides
    along on the narrow ranked ids; the page's wide columns are fetched for its rows only. A
    page past the end has no row to carry the total, so it is counted separately.
    """
    if session.get_bind().dialect.name == "postgresql":
        ranked = _ranked_matches_first(conds, order, offset=offset, limit=limit)
    else:
        ranked = (
            select(col(Video.id).label("ranked_id"), func.count().over().label("total"))
            .where(*conds)
            .order_by(*order)
            .offset(offset)
            .limit(limit)
            .subquery()
        )
    rows = session.exec(
        select(*_PAGE_COLUMNS, ranked.c.total)
        .join(ranked, ranked.c.ranked_id == col(Video.id))
        .order_by(*order)
    ).all()
    if rows:
        return rows, rows[0].total
    return rows, _count(session, conds) if offset else 0


def _ranked_matches_first(
    conds: list[ColumnElement[bool]], order: list[ColumnElement], *, offset: int, limit: int
) -> Subquery:
    """PostgreSQL's page of ranked ids with the total: the matches first (a materialised CTE
    of their ids and sort keys), then their order. Left to itself, PostgreSQL sometimes walked
    the queue order's index over the whole table, filtering each row (400-800 ms at a million
    videos, where the title's trigram index finds the matches in 7-9 ms): the window count
    needs every match anyway, so the index's order saves nothing, and which plan it chose
    changed from one ``ANALYZE`` sample to the next (docs/BENCHMARKS.md)."""
    keys = {
        element.key: element
        for expression in order
        for element in iterate(_clause(expression))
        if isinstance(element, Column)
    }
    matches = (
        select(col(Video.id), *(column for key, column in keys.items() if key != "id"))
        .where(*conds)
        .cte("matches")
        .prefix_with("MATERIALIZED")
    )
    on_matches = ClauseAdapter(matches)
    return (
        select(matches.c.id.label("ranked_id"), func.count().over().label("total"))
        .order_by(*(on_matches.traverse(_clause(expression)) for expression in order))
        .offset(offset)
        .limit(limit)
        .subquery()
    )


def _clause(expression: ColumnElement) -> ColumnElement:
    """The SQL element behind an ORM attribute (``col(Video.id)``), which ClauseAdapter leaves
    alone otherwise."""
    return getattr(expression, "__clause_element__", lambda: expression)()


def list_queue(
    session: Session,
    *,
    filters: QueueFilters,
    page: int = 1,
    page_size: int = 50,
    now: datetime | None = None,
) -> QueuePage:
    """One page (1-based) of the queue and the total number of matching videos."""
    if page < 1 or page_size < 1:
        raise ValueError(f"page and page_size must be >= 1, got {page}, {page_size}")
    now = _now(now)
    conds = _conditions(session, filters, now)
    costly = bool(filters.search.strip() or filters.tag)
    fetch = _page_and_count_in_one_pass if costly else _page_then_count
    videos, total = fetch(
        session, conds, _order(filters.sort), offset=(page - 1) * page_size, limit=page_size
    )
    user_ids = {v.claimed_by for v in videos} | {v.reviewed_by for v in videos}
    user_ids.discard(None)
    names = (
        dict(session.exec(select(User.id, User.username).where(col(User.id).in_(user_ids))).all())
        if user_ids
        else {}
    )
    tags = {tag for v in videos for tag in (v.top_tag, v.doubt_tag) if tag}
    paths = taxonomy_q.node_paths(session, node_ids=tags)
    rows = []
    for v in videos:
        claimed = (
            v.claimed_by is not None and v.claim_expires_at is not None and v.claim_expires_at > now
        )
        rows.append(
            QueueRow(
                video_id=v.id,
                title=v.title,
                state=IN_REVIEW if claimed else v.status,
                top_tag=paths.get(v.top_tag, v.top_tag) if v.top_tag else None,
                confidence=None if v.uncertainty is None else 1.0 - v.uncertainty,
                least_sure_about=paths.get(v.doubt_tag, v.doubt_tag) if v.doubt_tag else None,
                assignee=names.get(v.claimed_by) if claimed else names.get(v.reviewed_by),
                flagged=v.flagged,
                priority=v.priority,
                prioritized_at=v.prioritized_at,
                created_at=v.created_at,
                error=v.error,
            )
        )
    return QueuePage(rows=rows, total=total, page=page, page_size=page_size)


def queue_counts(session: Session, *, now: datetime | None = None) -> dict[str, int]:
    """Number of videos in each queue state (every state present, zero included).

    Every video counted by status, then the few claimed now moved to ``in_review``: PostgreSQL
    counts by status from its index alone (47 against 121 ms at a million videos, where a filter
    on the claim columns read every row; docs/BENCHMARKS.md)."""
    now = _now(now)
    counts = dict.fromkeys(QUEUE_STATES, 0)
    by_status = select(Video.status, func.count()).group_by(col(Video.status))
    counts.update(session.exec(by_status).all())
    for status, n in session.exec(by_status.where(_active_claim(now))).all():
        counts[status] -= n
        counts[IN_REVIEW] += n
    return counts


@dataclass(frozen=True)
class PriorityBacklog:
    videos: int
    oldest_since: datetime | None  # when the one raised longest ago was raised


def priority_backlog(session: Session) -> dict[ReviewPriority, PriorityBacklog]:
    """High and urgent videos not reviewed yet (failed ones aside: nothing to watch), per level
    (both present), with how long the longest waiting has waited: the moderation's promise."""
    backlog = dict.fromkeys(
        (ReviewPriority.URGENT, ReviewPriority.HIGH), PriorityBacklog(videos=0, oldest_since=None)
    )
    rows = session.exec(
        select(Video.priority, func.count(), func.min(Video.prioritized_at))
        .where(
            col(Video.priority) > ReviewPriority.NORMAL,
            col(Video.status).not_in([VideoStatus.REVIEWED.value, VideoStatus.FAILED.value]),
        )
        .group_by(col(Video.priority))
    )
    for level, n, oldest in rows:
        backlog[ReviewPriority(level)] = PriorityBacklog(videos=n, oldest_since=oldest)
    return backlog


def review_targets(session: Session) -> dict[ReviewPriority, float]:
    """Seconds from a video's priority being raised to its review that the team promises, per
    raised level: the admin's setting, else the table's defaults."""
    row = session.get(ReviewTargets, 1) or ReviewTargets()
    return {
        ReviewPriority.URGENT: row.urgent_minutes * 60.0,
        ReviewPriority.HIGH: row.high_minutes * 60.0,
    }


def store_review_targets(
    session: Session, *, urgent_minutes: int, high_minutes: int, user_id: int | None
) -> None:
    """Write the review targets as given (``core.review.set_review_targets`` validates them)."""
    row = session.get(ReviewTargets, 1) or ReviewTargets(id=1)
    row.urgent_minutes, row.high_minutes = urgent_minutes, high_minutes
    row.updated_by, row.updated_at = user_id, utcnow()
    session.add(row)
    session.flush()


def overdue_videos(
    session: Session, *, targets: dict[ReviewPriority, float], now: datetime, limit: int
) -> list[Video]:
    """Raised videos not reviewed yet (failed ones aside) whose level's target (seconds, as
    :func:`review_targets` reads them) had passed at ``now``, and whose lateness is not audited
    since they were raised (``review_overdue``): each time a video is raised, it is reported
    late once. Longest waiting first."""
    late = or_(
        *(
            and_(
                col(Video.priority) == level,
                col(Video.prioritized_at) <= now - timedelta(seconds=target_s),
            )
            for level, target_s in targets.items()
        )
    )
    reported = (
        select(AuditLog.id)
        .where(
            col(AuditLog.video_id) == col(Video.id),
            col(AuditLog.action) == AuditAction.REVIEW_OVERDUE.value,
            col(AuditLog.created_at) >= col(Video.prioritized_at),
        )
        .exists()
    )
    return list(
        session.exec(
            select(Video)
            .where(
                late,
                col(Video.status).not_in([VideoStatus.REVIEWED.value, VideoStatus.FAILED.value]),
                ~reported,
            )
            .order_by(col(Video.prioritized_at), col(Video.id))
            .limit(limit)
        )
    )


def reload_video(session: Session, *, video_id: int) -> Video | None:
    """The video as stored now (the session's copy refreshed after an update), or None."""
    return session.get(Video, video_id, populate_existing=True)


def take_claim(
    session: Session, *, video_id: int, user: Actor, now: datetime, minutes: int
) -> Video | None:
    """Claim the video for ``user`` until ``now + minutes`` unless someone else holds an active
    claim (one atomic update); the video as stored now, or None when it was not taken."""
    taken = session.exec(
        update(Video)
        .where(col(Video.id) == video_id)
        .where(or_(_no_active_claim(now), col(Video.claimed_by) == user.id))
        .values(claimed_by=user.id, claim_expires_at=now + timedelta(minutes=minutes))
        .returning(col(Video.id))
    ).all()
    return reload_video(session, video_id=video_id) if taken else None


def own_claim(
    session: Session, *, user: Actor, now: datetime, exclude_ids: Sequence[int] = ()
) -> int | None:
    """The video ``user`` holds an active claim on (the one expiring first), if any."""
    return session.exec(
        select(Video.id)
        .where(col(Video.claimed_by) == user.id, col(Video.claim_expires_at) > now)
        .where(col(Video.id).not_in(exclude_ids) if exclude_ids else true())
        .order_by(col(Video.claim_expires_at))
        .limit(1)
    ).first()


def claim_candidates(
    session: Session,
    *,
    filters: QueueFilters,
    statuses: Sequence[str],
    user: Actor,
    now: datetime,
    exclude_ids: Sequence[int] = (),
    limit: int,
    above: ReviewPriority | None = None,
) -> list[int]:
    """Up to ``limit`` unclaimed videos in one of the stored ``statuses`` that match the
    filters' other fields and that ``user`` may take (overlap rules, its review languages), in
    queue order: whatever the sort, the highest priority first; only those of a priority
    ``above`` the one given, if given."""
    conds = _conditions(session, QueueFilters(**{**filters.__dict__, "statuses": ()}), now)
    conds += [col(Video.status).in_(list(statuses)), _no_active_claim(now)]
    if above is not None:
        conds.append(col(Video.priority) > above)
    # label quality: overlap videos this user answered, or whose answers are all in, are not theirs
    conds += quality_q.claim_exclusions(session, user=user)
    conds += users_q.language_route(session, user_id=user.id)
    if exclude_ids:
        conds.append(col(Video.id).not_in(exclude_ids))
    order = _order(filters.sort)
    if filters.sort == "review_rank":  # priority leads this order already (and its index)
        return list(session.exec(select(Video.id).where(*conds).order_by(*order).limit(limit)))
    # another sort: the raised videos first, then the sort's own order over the others, two
    # reads that each keep an index (PostgreSQL sorted the whole pool for the two orders as one)
    raised = list(
        session.exec(
            select(Video.id)
            .where(*conds, col(Video.priority) > ReviewPriority.NORMAL)
            .order_by(*_PRIORITY_FIRST, *order)
            .limit(limit)
        )
    )
    if len(raised) == limit or above is not None:
        return raised
    rest = session.exec(
        select(Video.id)
        .where(*conds, col(Video.priority) == ReviewPriority.NORMAL)
        .order_by(*order)
        .limit(limit - len(raised))
    )
    return raised + list(rest)


def claim_videos(
    session: Session,
    *,
    video_ids: Sequence[int],
    user: Actor,
    claim_minutes: int,
    now: datetime | None = None,
) -> list[int]:
    """Claim (or renew) several videos at once for a bulk page; returns the ids now held.

    One conditional ``UPDATE`` with the same rule as :func:`claim_video`, so videos another
    moderator holds are left out rather than taken; each new claim is audited.
    """
    if not video_ids:
        return []
    now = _now(now)
    held_before = set(
        session.exec(
            select(Video.id).where(
                col(Video.id).in_(list(video_ids)),
                col(Video.claimed_by) == user.id,
                col(Video.claim_expires_at) > now,
            )
        ).all()
    )
    taken = session.exec(
        update(Video)
        .where(col(Video.id).in_(list(video_ids)))
        .where(or_(_no_active_claim(now), col(Video.claimed_by) == user.id))
        .values(claimed_by=user.id, claim_expires_at=now + timedelta(minutes=claim_minutes))
        .returning(col(Video.id))
    ).all()
    held = {row[0] if isinstance(row, Row) else row for row in taken}
    for video_id in sorted(held - held_before):
        add_audit(session, action=AuditAction.CLAIM, user=user, video_id=video_id)
    return [video_id for video_id in video_ids if video_id in held]


def get_claim(
    session: Session, *, video_id: int, user: Actor, now: datetime | None = None
) -> ClaimInfo:
    """Who holds the claim on a video now (``claimed_by`` None when nobody does)."""
    now = _now(now)
    video = session.get(Video, video_id, populate_existing=True)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    active = (
        video.claimed_by is not None
        and video.claim_expires_at is not None
        and video.claim_expires_at > now
    )
    claimer = session.get(User, video.claimed_by) if active else None
    return ClaimInfo(
        video_id=video_id,
        claimed_by=video.claimed_by if active else None,
        claimer=claimer.username if claimer is not None else None,
        expires_at=video.claim_expires_at if active else None,
        version=video.version,
        status=video.status,
        held=active and video.claimed_by == user.id,
    )


def release_claim(session: Session, *, video_id: int, user: Actor) -> bool:
    """Clear the user's claim on the video; False if the user held none."""
    released = session.exec(
        update(Video)
        .where(col(Video.id) == video_id, col(Video.claimed_by) == user.id)
        .values(claimed_by=None, claim_expires_at=None)
        .returning(col(Video.id))
    ).all()
    return bool(released)


def set_flag(session: Session, *, video_id: int, flagged: bool, reason: str | None) -> Video:
    """Set or clear the video's flag and its reason."""
    done = session.exec(
        update(Video)
        .where(col(Video.id) == video_id)
        .values(flagged=flagged, flag_reason=reason, updated_at=utcnow())
        .returning(col(Video.id))
    ).all()
    if not done:
        raise NotFoundError(f"no video with id {video_id}")
    return reload_video(session, video_id=video_id)


def set_priority(
    session: Session,
    *,
    video_id: int,
    priority: ReviewPriority,
    reason: str | None,
    since: datetime | None,
) -> Video:
    """Set the video's review priority, its reason and since when it is raised."""
    session.exec(
        update(Video)
        .where(col(Video.id) == video_id)
        .values(priority=int(priority), priority_reason=reason, prioritized_at=since)
    )
    return reload_video(session, video_id=video_id)


@dataclass(frozen=True)
class PriorityRaise:
    video_id: int
    priority: ReviewPriority
    reason: str


RAISES_PER_STATEMENT = 10_000  # 3 parameters each: under PostgreSQL's 65,535 a statement


def raise_priorities(session: Session, *, raises: Sequence[PriorityRaise], at: datetime) -> None:
    """Set many videos' priorities and reasons, raised ``at``: an ``UPDATE ... FROM (VALUES
    ...)`` per 10,000 videos (an update per video, even batched by the driver, took ~1 ms each
    on DuckDB)."""
    for start in range(0, len(raises), RAISES_PER_STATEMENT):
        chunk = raises[start : start + RAISES_PER_STATEMENT]
        raised = values(
            column("video_id", Integer),
            column("priority", Integer),
            column("reason", String),
            name="raised",
        ).data([(r.video_id, int(r.priority), r.reason) for r in chunk])
        session.exec(
            update(Video)
            .where(col(Video.id) == raised.c.video_id)
            .values(priority=raised.c.priority, priority_reason=raised.c.reason, prioritized_at=at)
        )


def reopen_reviewed(
    session: Session, *, video_ids: Sequence[int], flag_reason: str
) -> list[tuple[int, int | None]]:
    """Put the named videos that are ``reviewed`` back to ``predicted``, flagged with
    ``flag_reason``, their version bumped; returns ``(video_id, predicted_model_id)`` of each."""
    if not video_ids:
        return []
    sent = session.exec(
        update(Video)
        .where(col(Video.id).in_(list(video_ids)), col(Video.status) == VideoStatus.REVIEWED)
        .values(
            status=VideoStatus.PREDICTED,
            flagged=True,
            flag_reason=flag_reason,
            version=col(Video.version) + 1,
            updated_at=utcnow(),
        )
        .returning(col(Video.id), col(Video.predicted_model_id))
    ).all()
    return [(video_id, model_id) for video_id, model_id in sent]


def set_statuses(session: Session, *, video_ids: Sequence[int], status: str) -> None:
    """Set the status of the named videos (no other column changes)."""
    if video_ids:
        session.exec(update(Video).where(col(Video.id).in_(list(video_ids))).values(status=status))


def list_videos_after(
    session: Session,
    *,
    statuses: Sequence[str] = (),
    tag: str | None = None,
    reviewed: bool | None = None,
    created_since: datetime | None = None,
    external_id: str | None = None,
    priorities: Sequence[ReviewPriority] = (),
    after_id: int | None = None,
    limit: int = 50,
) -> list[Video]:
    """A keyset page of videos in id order (the HTTP API's stable listing): stored ``statuses``,
    ``tag`` as in :class:`QueueFilters` (predicted or labelled with it or a narrower tag),
    ``reviewed`` by a human or not, created at or after ``created_since``, the platform's
    ``external_id``, review ``priorities``; ids after ``after_id``.
    """
    unknown = set(statuses) - {s.value for s in VideoStatus}
    if unknown:
        raise ValueError(f"unknown video status(es) {sorted(unknown)}")
    conds = _conditions(session, QueueFilters(tag=tag), utcnow())
    if statuses:
        conds.append(col(Video.status).in_(list(statuses)))
    if reviewed is not None:
        is_reviewed = col(Video.reviewed_at).is_not(None)
        conds.append(is_reviewed if reviewed else ~is_reviewed)
    if created_since is not None:
        conds.append(col(Video.created_at) >= created_since)
    if external_id is not None:
        conds.append(col(Video.external_id) == external_id)
    if priorities:
        conds.append(col(Video.priority).in_([int(p) for p in priorities]))
    if after_id is not None:
        conds.append(col(Video.id) > after_id)
    query = select(Video).where(*conds).order_by(col(Video.id)).limit(limit)
    return list(session.exec(query))
