"""Everything the review pages show, read in short units of work: one video for the review page,
a page of cards for the tag sweep, a batch of questions for binary mode, and what a bulk answer
saves from (:class:`Start`, the same starting tags as the review form).

The database lock is released before anything renders (DuckDB is locked per unit of work), and
the ``version`` read here is what the page later hands to ``save_review``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlmodel import Session

from core import review as review_rules
from core.config import Settings
from dashboard.cache import TaxonomyView
from dashboard.components import ScoredTag
from db.engine import Database
from db.queries import Actor, bulk_review, labels, review, videos
from db.queries import model_versions as model_queries
from db.queries.bulk_review import BinaryQuestion, SweepItem
from db.tables import LabelSource, Prediction, Video

MAX_SUGGESTIONS = 8  # more than this is an uninformative prediction; the tree still shows all


@dataclass(frozen=True)
class KeyframeThumbnail:
    """A stored keyframe as the review page shows it: its time, and its index and stored path
    for the thumbnail route (None when the thumbnail file is missing)."""

    timestamp_s: float
    index: int | None
    stored: str


@dataclass(frozen=True)
class ReviewData:
    video: Video
    claim: review.ClaimInfo
    media_path: Path | None  # None when the file is missing on disk
    keyframes: list[KeyframeThumbnail]
    segments: list[dict]  # {"start", "end", "text"}
    transcript_source: str | None
    tags: list[ScoredTag]  # the prediction, in taxonomy order
    suggested: list[
        ScoredTag
    ]  # most specific predicted tags, most probable first (at most MAX_SUGGESTIONS)
    model_version_id: int | None
    human_labels: list[str]
    imported_labels: list[str]
    modality_notes: list[dict]  # {"modality", "status", "detail"}: what ingest used or dropped
    transcript_encoding: str | None = None  # what the subtitle bytes were read as
    onscreen: list[dict] = field(default_factory=list)  # OCR lines {"start", "end", "text"}

    @property
    def current_labels(self) -> list[str]:
        """Labels the form starts from: the saved review, else the import, else the suggestions."""
        if self.video.reviewed_at is not None:
            return self.human_labels
        if self.imported_labels:
            return self.imported_labels
        return [t.node_id for t in self.suggested]


def load_review(
    db: Database, *, video_id: int, user: Actor, settings: Settings, tax: TaxonomyView
) -> ReviewData:
    """Raises ``db.queries.NotFoundError`` for an unknown video."""
    with db.session() as session:
        return read_review(session, video_id=video_id, user=user, settings=settings, tax=tax)


def read_review(
    session: Session, *, video_id: int, user: Actor, settings: Settings, tax: TaxonomyView
) -> ReviewData:
    """:func:`load_review` in the caller's unit of work (the claim of the next video and its
    read share one database open)."""
    video = videos.get_video(session, video_id=video_id)
    claim = review.get_claim(session, video_id=video_id, user=user)
    transcript = videos.get_transcript(session, video_id=video_id)
    ocr = videos.get_onscreen_text(session, video_id=video_id)
    frames = videos.get_keyframes(session, video_id=video_id)
    stored = labels.get_labels(session, video_id=video_id)
    model_id = video.predicted_model_id
    predictions = (
        model_queries.get_predictions(session, video_id=video_id, model_version_id=model_id)
        if model_id is not None
        else []
    )
    tags = scored_tags(predictions, tax)
    suggested = suggestions(tags, tax)
    media = settings.data_dir / video.stored_path if video.stored_path else None
    return ReviewData(
        video=video,
        claim=claim,
        media_path=media if media is not None and media.is_file() else None,
        keyframes=[
            KeyframeThumbnail(
                f.timestamp_s,
                f.idx if (settings.data_dir / f.thumbnail_path).is_file() else None,
                f.thumbnail_path,
            )
            for f in frames
        ],
        segments=json.loads(transcript.segments_json) if transcript is not None else [],
        transcript_source=transcript.source if transcript is not None else None,
        tags=tags,
        suggested=suggested,
        model_version_id=model_id,
        human_labels=[lab.node_id for lab in stored if lab.source == LabelSource.HUMAN],
        imported_labels=[lab.node_id for lab in stored if lab.source == LabelSource.IMPORT],
        modality_notes=json.loads(video.modality_notes_json or "[]"),
        transcript_encoding=transcript.encoding if transcript is not None else None,
        onscreen=json.loads(ocr.segments_json) if ocr is not None else [],
    )


def scored_tags(predictions: Sequence[Prediction], tax: TaxonomyView) -> list[ScoredTag]:
    """One video's stored prediction for display, in taxonomy order (parents first)."""
    probs = {p.node_id: p for p in predictions}
    return [
        ScoredTag(
            node_id=node.id,
            path=node.path,
            name=node.name,
            level=node.level,
            probability=probs[node.id].probability,
            predicted=probs[node.id].is_predicted,
        )
        for node in tax.taxonomy.nodes
        if node.id in probs
    ]


def suggestions(tags: Sequence[ScoredTag], tax: TaxonomyView) -> list[ScoredTag]:
    """The most specific predicted tags (no predicted descendant, through every parent of a DAG),
    most probable first, at most ``MAX_SUGGESTIONS``."""
    predicted = [t for t in tags if t.predicted]
    covered = {a.id for t in predicted for a in tax.taxonomy.ancestors(t.node_id)}
    ranked = sorted(
        (t for t in predicted if t.node_id not in covered), key=lambda t: -t.probability
    )
    return ranked[:MAX_SUGGESTIONS]


@dataclass(frozen=True)
class Start:
    """What the review form of one video would start from (see ``ReviewData.current_labels``):
    a bulk answer saves this with one tag added or removed."""

    video_id: int
    version: int
    labels: tuple[str, ...]


def _starts(session: Session, rows: Sequence[Video], tax: TaxonomyView) -> dict[int, Start]:
    video_ids = [video.id for video in rows]
    effective = review_rules.effective_labels(session, video_ids=video_ids)
    by_model: dict[int, list[int]] = {}
    for video in rows:
        if video.id not in effective and video.predicted_model_id is not None:
            by_model.setdefault(video.predicted_model_id, []).append(video.id)
    predictions: dict[int, list[Prediction]] = {}
    for model_id, ids in by_model.items():
        predictions.update(
            model_queries.get_predictions_for_videos(
                session, video_ids=ids, model_version_id=model_id
            )
        )
    starts = {}
    for video in rows:
        if video.id in effective:
            chosen = effective[video.id]
        else:
            tags = scored_tags(predictions.get(video.id, []), tax)
            chosen = [t.node_id for t in suggestions(tags, tax)]
        starts[video.id] = Start(video.id, video.version, tuple(chosen))
    return starts


def answer(start: Start, *, node_id: str, accept: bool, tax: TaxonomyView) -> list[str]:
    """The labels a yes/no answer about ``node_id`` saves: the start plus the tag, or the start
    without the tag and anything below it (a "no" to a tag is a "no" to its narrower tags)."""
    if accept:
        return sorted({*start.labels, node_id})
    below = subtree(tax, node_id)
    return sorted(n for n in start.labels if n not in below)


def subtree(tax: TaxonomyView, node_id: str) -> set[str]:
    """``node_id`` and every tag below it, through every child of a DAG."""
    seen, stack = {node_id}, [node_id]
    while stack:
        for child in tax.taxonomy.children(stack.pop()):
            if child.id not in seen:
                seen.add(child.id)
                stack.append(child.id)
    return seen


# --- bulk modes ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepCard:
    item: SweepItem
    start: Start
    has_thumbnail: bool  # its first keyframe's thumbnail is on disk
    file: VideoFile | None  # what its preview plays; None when the file is not on disk


@dataclass(frozen=True)
class VideoFile:
    """A video's stored file (relative to the data dir) and its length as probed at ingest."""

    stored_path: str
    duration_s: float | None


def _on_disk(video: Video | None, settings: Settings) -> VideoFile | None:
    """The video's stored file, when it is on disk."""
    if video is None or not video.stored_path:
        return None
    if not (settings.data_dir / video.stored_path).is_file():
        return None
    return VideoFile(video.stored_path, video.duration_s)


def load_sweep(
    db: Database,
    *,
    node_id: str,
    order: str,
    user: Actor,
    exclude_ids: Sequence[int],
    limit: int,
) -> list[SweepItem]:
    """One page of the tag sweep (not yet claimed)."""
    with db.session() as session:
        return bulk_review.sweep_candidates(
            session, node_id=node_id, user=user, order=order, limit=limit, exclude_ids=exclude_ids
        )


def sweep_cards(
    db: Database, *, items: Sequence[SweepItem], settings: Settings, tax: TaxonomyView
) -> list[SweepCard]:
    """The held items of a sweep page with what confirming each one would save from, and the
    files their previews play (one unit of work)."""
    with db.session() as session:
        rows = videos.get_videos(session, video_ids=[i.video_id for i in items])
        starts = _starts(session, rows, tax)
    files = {video.id: _on_disk(video, settings) for video in rows}
    cards = []
    for item in items:
        stored = item.thumbnail
        cards.append(
            SweepCard(
                item=item,
                start=starts[item.video_id],
                has_thumbnail=stored is not None and (settings.data_dir / stored).is_file(),
                file=files.get(item.video_id),
            )
        )
    return cards


@dataclass(frozen=True)
class Question:
    """A binary-mode question with what the page shows and what an answer saves from."""

    ask: BinaryQuestion
    start: Start
    description: str
    thumbnails: dict[int, str]  # keyframe index -> stored path, of the thumbnails on disk
    file: VideoFile | None  # what its preview plays; None when the file is not on disk


def load_questions(
    db: Database,
    *,
    user: Actor,
    node_id: str | None,
    exclude_ids: Sequence[int],
    settings: Settings,
    tax: TaxonomyView,
    limit: int = 20,
    thumbnails: int = 4,
) -> list[Question]:
    """The next ``limit`` questions, most informative first, loaded in one unit of work."""
    with db.session() as session:
        asks = bulk_review.binary_questions(
            session, user=user, node_id=node_id, limit=limit, exclude_ids=exclude_ids
        )
        ids = [a.video_id for a in asks]
        found = videos.get_videos(session, video_ids=ids)
        starts = _starts(session, found, tax)
        frames = bulk_review.keyframe_thumbnails(session, video_ids=ids, per_video=thumbnails)
    rows = {video.id: video for video in found}
    return [
        Question(
            ask=a,
            start=starts[a.video_id],
            description=rows[a.video_id].description,
            thumbnails={
                index: path
                for index, path in frames.get(a.video_id, [])
                if (settings.data_dir / path).is_file()
            },
            file=_on_disk(rows[a.video_id], settings),
        )
        for a in asks
        if a.video_id in starts
    ]
