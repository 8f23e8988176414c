"""The review rules: which labels count, what saving a review does, and how claims are handed out.

- Effective labels: a human review is authoritative for its video once it is saved (``reviewed``),
  even when it leaves the video with no tags (a confirmed "no tags"); before that the imported
  labels count. Videos with neither are unlabelled.
- Saving a review replaces the video's human labels, marks it reviewed and releases the claim,
  all at once and only if nobody saved it since the moderator opened it (``Video.version``);
  every tag added or removed against the previous effective labels is audited.
- Claims: "review next" first resumes a claim the moderator already holds, then takes the first
  unclaimed video in queue order among the reviewable ones (processed: ready, predicted or
  reviewed; predicted and ready unless the filters say otherwise). Nobody gets a video another
  moderator holds an active claim on.
- Sending back: reviewed videos return to the queue flagged for a second review (predicted, or
  ready when never predicted), their version bumped so an open page cannot overwrite silently.
- Priority: the platform (a user's report) or a lead marks a video high or urgent with a reason;
  Review next serves the most urgent first, the longest waiting first among equals.
- Review targets: an admin sets the team's promise per raised level (urgent within 30 minutes,
  high within 4 hours by default): the Queue and Review pages, Analytics, the API's
  ``priority.due``, the metrics and the late-review events (``core.overdue``) all read it.

Who may do each of these (moderators, admins) is checked by the callers (dashboard actions).
Every function takes an open ``Session``: the caller's unit of work makes the whole rule atomic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlmodel import Session

from core.auth import PermissionDeniedError
from core.errors import TaggerError
from db.queries import Actor, NotFoundError, StaleVersionError
from db.queries import labels as labels_q
from db.queries import quality as quality_q
from db.queries import review as review_q
from db.queries.audit import add_audit
from db.queries.review import QueueFilters, VideoClaimedError
from db.queries.webhooks import enqueue_video_event
from db.tables import (
    AuditAction,
    LabelSource,
    ReviewPriority,
    Role,
    Video,
    VideoStatus,
    WebhookEvent,
    utcnow,
)

# Videos whose media were processed can be reviewed; "review next" prefers these by default.
REVIEWABLE = (VideoStatus.READY.value, VideoStatus.PREDICTED.value, VideoStatus.REVIEWED.value)
DEFAULT_CLAIM_STATES = (VideoStatus.PREDICTED.value, VideoStatus.READY.value)
CLAIM_CANDIDATES = 16
PRIORITY_REASON_MAX_CHARS = 500
MAX_REVIEW_TARGET_MINUTES = 7 * 24 * 60


class PriorityInputError(TaggerError, ValueError):
    """An unknown priority level, or a reason that is too long."""


class ReviewTargetInputError(TaggerError, ValueError):
    """A review target that is not 1 minute to a week."""


class PriorityPermissionError(TaggerError):
    """A moderator lowered a video's priority: raising is anyone's (a platform's token reporting
    a video), lowering a lead's or an admin's."""


def parse_priority(name: str) -> ReviewPriority:
    """The level named ``normal``, ``high`` or ``urgent`` (any case)."""
    try:
        return ReviewPriority[name.strip().upper()]
    except KeyError:
        known = ", ".join(p.label for p in ReviewPriority)
        raise PriorityInputError(f"unknown priority {name!r}; expected one of {known}") from None


def priority_name(value: int) -> str:
    return ReviewPriority(value).label


def set_review_targets(
    session: Session, *, urgent_minutes: int, high_minutes: int, user: Actor | None
) -> dict[ReviewPriority, float]:
    """The admin's promise for raised videos: reviewed within so many minutes of being raised
    (1 minute to a week), audited; ``user`` None is the operator at the command line. Returns
    the targets in seconds, as ``db.queries.review.review_targets`` reads them."""
    if user is not None:
        role = quality_q.stored_role(session, user_id=user.id)
        if role != Role.ADMIN:
            raise PermissionDeniedError(
                f"changing the review targets needs the admin role; {user.username} is "
                f"{role or 'not an active user'}"
            )
    for level, minutes in (("urgent", urgent_minutes), ("high", high_minutes)):
        if not 1 <= minutes <= MAX_REVIEW_TARGET_MINUTES:
            raise ReviewTargetInputError(
                f"the {level} review target must be 1 to {MAX_REVIEW_TARGET_MINUTES:,} minutes "
                f"(a week), got {minutes}"
            )
    review_q.store_review_targets(
        session,
        urgent_minutes=urgent_minutes,
        high_minutes=high_minutes,
        user_id=user.id if user is not None else None,
    )
    add_audit(
        session,
        action=AuditAction.REVIEW_TARGETS,
        user=user,
        detail={"urgent_minutes": urgent_minutes, "high_minutes": high_minutes},
    )
    return review_q.review_targets(session)


def target_minutes(targets: dict[ReviewPriority, float]) -> dict[ReviewPriority, int]:
    """The targets (seconds, as ``db.queries.review.review_targets`` reads them) in the whole
    minutes an admin sets them in."""
    return {level: round(seconds / 60) for level, seconds in targets.items()}


def review_due(video: Video, targets: dict[ReviewPriority, float]) -> datetime | None:
    """When the team's ``targets`` (``db.queries.review.review_targets``) say a raised video is
    reviewed by (None: normal priority)."""
    if video.priority == ReviewPriority.NORMAL or video.prioritized_at is None:
        return None
    return video.prioritized_at + timedelta(seconds=targets[ReviewPriority(video.priority)])


def effective_labels(
    session: Session, *, video_ids: Sequence[int] | None = None
) -> dict[int, list[str]]:
    """``{video_id: sorted node ids}`` for labelled videos: human labels if reviewed, else imported.

    Reviewed videos appear even with an empty list; videos with neither a review nor imported
    labels are absent (unlabelled). With ``video_ids``, only those.
    """
    result: dict[int, list[str]] = {
        video_id: [] for video_id in labels_q.reviewed_video_ids(session, video_ids=video_ids)
    }
    pairs = labels_q.label_pairs(
        session,
        source_if_reviewed=LabelSource.HUMAN,
        source_if_not_reviewed=LabelSource.IMPORT,
        video_ids=video_ids,
    )
    for video_id, node_id in pairs:
        result.setdefault(video_id, []).append(node_id)
    return {video_id: sorted(nodes) for video_id, nodes in sorted(result.items())}


def count_labelled_videos(session: Session) -> int:
    """How many videos :func:`effective_labels` would return, without reading their labels."""
    return labels_q.count_labelled_videos(session, source_if_not_reviewed=LabelSource.IMPORT)


def save_review(
    session: Session, *, video_id: int, expected_version: int, node_ids: Iterable[str], user: Actor
) -> Video:
    """Replace the video's human labels with ``node_ids`` and mark it reviewed, atomically.

    Refuses with ``StaleVersionError`` (writing nothing) when ``Video.version`` is no longer
    ``expected_version``. Writes one ``label_add``/``label_remove`` audit row per change against
    the previous effective labels, and one ``review_saved`` row, and queues the
    ``video.reviewed`` webhook event in the same transaction.
    """
    wanted = set(node_ids)
    labels_q.check_node_ids(session, node_ids=wanted)
    previous = set(effective_labels(session, video_ids=[video_id]).get(video_id, []))
    now = utcnow()
    version = labels_q.mark_reviewed(
        session, video_id=video_id, expected_version=expected_version, user=user, now=now
    )
    if version is None:
        current = _video(session, video_id)
        raise StaleVersionError(
            f"video {video_id} was changed by someone else (version {current.version}, "
            f"you edited version {expected_version}); reload it"
        )
    labels_q.replace_human_labels(session, video_id=video_id, node_ids=wanted, user=user, now=now)
    added, removed = sorted(wanted - previous), sorted(previous - wanted)
    for node in added:
        add_audit(session, action=AuditAction.LABEL_ADD, user=user, video_id=video_id, node_id=node)
    for node in removed:
        add_audit(
            session, action=AuditAction.LABEL_REMOVE, user=user, video_id=video_id, node_id=node
        )
    add_audit(
        session,
        action=AuditAction.REVIEW_SAVED,
        user=user,
        video_id=video_id,
        detail={"node_ids": sorted(wanted), "added": added, "removed": removed, "version": version},
    )
    enqueue_video_event(session, event=WebhookEvent.VIDEO_REVIEWED, video_id=video_id)
    return _video(session, video_id)


def claim_next(
    session: Session,
    *,
    user: Actor,
    filters: QueueFilters | None = None,
    claim_minutes: int,
    exclude_ids: Sequence[int] = (),
    now: datetime | None = None,
    above: ReviewPriority | None = None,
) -> Video | None:
    """Claim the next reviewable video for ``user`` (queue order), or None when none is left.

    A claim the user already holds (not excluded) is returned first, so a reloaded browser
    resumes its item. Statuses default to predicted/ready and never include unprocessed or
    failed videos; videos actively claimed by others are never returned. With ``above``, only
    a video of a higher priority than that is claimed, the user's own claims aside: one raised
    since the video prepared next was claimed goes before it (that one, still held, follows).
    """
    now = now or utcnow()
    filters = filters or QueueFilters()
    mine = (
        review_q.own_claim(session, user=user, now=now, exclude_ids=exclude_ids)
        if above is None
        else None
    )
    if mine is not None:
        video = review_q.take_claim(
            session, video_id=mine, user=user, now=now, minutes=claim_minutes
        )
        if video is not None:
            return video
    statuses = [s for s in (filters.statuses or DEFAULT_CLAIM_STATES) if s in REVIEWABLE]
    if not statuses:
        return None
    while True:
        candidates = review_q.claim_candidates(
            session,
            filters=filters,
            statuses=statuses,
            user=user,
            now=now,
            exclude_ids=exclude_ids,
            limit=CLAIM_CANDIDATES,
            above=above,
        )
        if not candidates:
            return None
        for video_id in candidates:
            video = review_q.take_claim(
                session, video_id=video_id, user=user, now=now, minutes=claim_minutes
            )
            if video is not None:
                add_audit(session, action=AuditAction.CLAIM, user=user, video_id=video_id)
                return video
        # every candidate was taken by someone else meanwhile (PostgreSQL): look again


def claim_video(
    session: Session, *, video_id: int, user: Actor, claim_minutes: int, now: datetime | None = None
) -> Video:
    """Claim (or renew the user's claim on) one video opened from the queue.

    Raises ``VideoClaimedError`` naming the holder when someone else's claim is active.
    """
    now = now or utcnow()
    video = review_q.take_claim(
        session, video_id=video_id, user=user, now=now, minutes=claim_minutes
    )
    if video is not None:
        return video
    info = review_q.get_claim(session, video_id=video_id, user=user, now=now)
    raise VideoClaimedError(
        f"video {video_id} is being reviewed by {info.claimer or 'another moderator'} "
        f"until {info.expires_at:%H:%M} UTC"
    )


def release_claim(session: Session, *, video_id: int, user: Actor, skipped: bool = False) -> bool:
    """Give up the user's claim (``skipped`` records a skip); False if the user held none."""
    released = review_q.release_claim(session, video_id=video_id, user=user)
    if released:
        add_audit(
            session,
            action=AuditAction.RELEASE,
            user=user,
            video_id=video_id,
            detail={"skipped": skipped},
        )
    return released


def renew_claim(
    session: Session, *, video_id: int | None, user: Actor, claim_minutes: int
) -> Video | None:
    """Claim the video prepared next (a save's or a skip's ``then_claim``); None when there is
    none or it is no longer the user's to take (someone holds it, or it was removed): the save or
    skip it follows stands either way."""
    if video_id is None:
        return None
    try:
        return claim_video(session, video_id=video_id, user=user, claim_minutes=claim_minutes)
    except (VideoClaimedError, NotFoundError):
        return None


def release_then_claim(
    session: Session,
    *,
    video_id: int,
    user: Actor,
    skipped: bool,
    then_claim: int | None,
    claim_minutes: int,
) -> Video | None:
    """Give the video up (``skipped`` records a skip), then claim ``then_claim`` (returned when
    taken)."""
    release_claim(session, video_id=video_id, user=user, skipped=skipped)
    return renew_claim(session, video_id=then_claim, user=user, claim_minutes=claim_minutes)


def set_flag(
    session: Session, *, video_id: int, user: Actor, flagged: bool, reason: str = ""
) -> Video:
    """Flag a video for attention (with a reason) or clear the flag; audited."""
    video = review_q.set_flag(
        session,
        video_id=video_id,
        flagged=flagged,
        reason=(reason.strip() or None) if flagged else None,
    )
    action = AuditAction.FLAGGED if flagged else AuditAction.UNFLAGGED
    add_audit(
        session, action=action, user=user, video_id=video_id, detail={"reason": reason.strip()}
    )
    return video


def set_priority(
    session: Session,
    *,
    video_id: int,
    user: Actor | None,
    priority: ReviewPriority,
    reason: str = "",
    now: datetime | None = None,
) -> Video:
    """Raise or lower how soon the video is reviewed (``user`` None: the command line); audited
    with the level before. Lowering needs the lead or admin role (as stored). The time it waits
    from restarts only when the level changes (a new reason for the same level keeps its place
    among equals); normal clears reason and time."""
    reason = " ".join(reason.split())
    if len(reason) > PRIORITY_REASON_MAX_CHARS:
        raise PriorityInputError(
            f"the priority's reason has {len(reason)} characters; at most "
            f"{PRIORITY_REASON_MAX_CHARS} are kept"
        )
    before = review_q.reload_video(session, video_id=video_id)
    if before is None:
        raise NotFoundError(f"no video with id {video_id}")
    before_name = priority_name(before.priority)
    if user is not None and priority < before.priority:
        role = quality_q.stored_role(session, user_id=user.id)
        if role not in (Role.LEAD, Role.ADMIN):
            raise PriorityPermissionError(
                f"lowering a video's priority needs the lead or admin role; {user.username} is "
                f"{role or 'not an active user'}"
            )
    if priority == ReviewPriority.NORMAL:
        reason, since = "", None
    else:
        since = before.prioritized_at if before.priority == priority else (now or utcnow())
    video = review_q.set_priority(
        session, video_id=video_id, priority=priority, reason=reason or None, since=since
    )
    add_audit(
        session,
        action=AuditAction.PRIORITY_SET,
        user=user,
        video_id=video_id,
        detail={"priority": priority_name(priority), "before": before_name, "reason": reason},
    )
    return video


def send_back_for_review(
    session: Session, *, video_ids: Sequence[int], user: Actor, reason: str
) -> int:
    """Return reviewed videos to the queue for a second review (flagged with the reason).

    Bumps ``version`` so a page still open on the old review cannot overwrite it silently.
    Returns how many videos were sent back (videos not in ``reviewed`` are left alone).
    """
    reason = reason.strip()
    sent = review_q.reopen_reviewed(
        session,
        video_ids=video_ids,
        flag_reason=f"second review: {reason}" if reason else "second review",
    )
    never_predicted = [video_id for video_id, model_id in sent if model_id is None]
    review_q.set_statuses(session, video_ids=never_predicted, status=VideoStatus.READY)
    for video_id, _ in sent:
        add_audit(
            session,
            action=AuditAction.FLAGGED,
            user=user,
            video_id=video_id,
            detail={"second_review": True, "reason": reason},
        )
    return len(sent)


def _video(session: Session, video_id: int) -> Video:
    video = review_q.reload_video(session, video_id=video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    return video
