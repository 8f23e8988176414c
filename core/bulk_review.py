"""Many videos saved in one unit of work: a tag sweep's page of confirmations and binary mode's
answers, each saved exactly as the review page saves one video.

A video in the overlap share (label quality) is answered blind there, and so it is here: the
labels are stored as this moderator's answer (:func:`core.quality.submit_answer`) and become the
video's labels only when the overlap's moderators agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlmodel import Session

from core import quality
from core import review as review_rules
from db.queries import Actor, NotFoundError, StaleVersionError
from db.queries.review import VideoClaimedError
from db.tables import Video


@dataclass(frozen=True)
class BulkSave:
    """One video of a bulk confirmation or a binary answer: its labels, saved against the
    version first read."""

    video_id: int
    expected_version: int
    node_ids: tuple[str, ...]


@dataclass(frozen=True)
class BulkOutcome:
    saved: list[int] = field(default_factory=list)
    refused: dict[int, str] = field(default_factory=dict)  # video id -> why it was not saved
    claimed: Video | None = None  # ``then_claim``'s video when it was taken


def save_reviews(
    session: Session,
    *,
    user: Actor,
    saves: Sequence[BulkSave],
    then_claim: int | None,
    claim_minutes: int,
) -> BulkOutcome:
    """Save several videos, each as the review page saves one, then claim ``then_claim``.

    Each one first claims (or renews) the video, so a video another moderator holds is refused
    like a changed one, and the others are still saved: every refusal comes before anything is
    written for that video.
    """
    saved: list[int] = []
    refused: dict[int, str] = {}
    overlap = quality.overlap_video_ids(session, video_ids=[item.video_id for item in saves])
    for item in saves:
        try:
            review_rules.claim_video(
                session, video_id=item.video_id, user=user, claim_minutes=claim_minutes
            )
            quality.save_labels(
                session,
                video_id=item.video_id,
                expected_version=item.expected_version,
                node_ids=item.node_ids,
                user=user,
                overlap=item.video_id in overlap,
            )
        except (
            StaleVersionError,
            VideoClaimedError,
            quality.OverlapClosedError,
            NotFoundError,  # removed meanwhile (core.removal)
        ) as e:
            refused[item.video_id] = str(e)
        else:
            saved.append(item.video_id)
    claimed = review_rules.renew_claim(
        session, video_id=then_claim, user=user, claim_minutes=claim_minutes
    )
    return BulkOutcome(saved=saved, refused=refused, claimed=claimed)
