"""Everything the review page shows about one video, read in one short unit of work.

The database lock is released before anything renders (DuckDB is locked per unit of work), and
the ``version`` read here is what the page later hands to ``save_review``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings
from dashboard.cache import TaxonomyView
from dashboard.components import ScoredTag
from db.engine import Database
from db.queries import Actor, labels, review, videos
from db.queries import model_versions as model_queries
from db.tables import LabelSource, Video

MAX_SUGGESTIONS = 8  # more than this is an uninformative prediction; the tree still shows all


@dataclass(frozen=True)
class Keyframe:
    timestamp_s: float
    path: Path


@dataclass(frozen=True)
class ReviewData:
    video: Video
    claim: review.ClaimInfo
    media_path: Path | None  # None when the file is missing on disk
    keyframes: list[Keyframe]
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
    probs = {p.node_id: p for p in predictions}
    tags = [
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
    predicted = [t for t in tags if t.predicted]
    covered = {a.id for t in predicted for a in tax.taxonomy.ancestors(t.node_id)}
    suggested = sorted(
        (t for t in predicted if t.node_id not in covered), key=lambda t: -t.probability
    )
    suggested = suggested[:MAX_SUGGESTIONS]
    media = settings.data_dir / video.stored_path if video.stored_path else None
    return ReviewData(
        video=video,
        claim=claim,
        media_path=media if media is not None and media.is_file() else None,
        keyframes=[Keyframe(f.timestamp_s, settings.data_dir / f.thumbnail_path) for f in frames],
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
