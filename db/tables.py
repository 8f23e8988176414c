"""SQLModel tables: the whole persistent data model in one module.

Portable between DuckDB (default, embedded) and PostgreSQL:
- integer keys come from named sequences (DuckDB has no SERIAL);
- vectors are float32 bytes in a LargeBinary column, JSON is text (``json.dumps``);
- timestamps are timezone-aware (UTC) ``TIMESTAMP WITH TIME ZONE``;
- no FOREIGN KEY constraints: DuckDB refuses to update an indexed column (e.g.
  ``video.uncertainty``) of a row that another table references, so referential integrity is
  kept by the query functions in :mod:`db.queries` (the only writers).

Status values are ``StrEnum`` constants stored as plain strings (no database enum types).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum, StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    LargeBinary,
    Sequence,
    Text,
)
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Timezone-aware now; every timestamp column stores UTC."""
    return datetime.now(UTC)


def _seq_id(name: str) -> int | None:
    """An integer primary key filled by the named sequence (works on DuckDB and PostgreSQL)."""
    seq = Sequence(name)
    return Field(
        default=None,
        sa_column=Column(Integer, seq, server_default=seq.next_value(), primary_key=True),
    )


def _ts(*, nullable: bool = False, index: bool = False, default_now: bool = True) -> datetime:
    if default_now:
        return Field(
            default_factory=utcnow, sa_type=DateTime(timezone=True), nullable=nullable, index=index
        )
    return Field(default=None, sa_type=DateTime(timezone=True), nullable=nullable, index=index)


class VideoStatus(StrEnum):
    NEW = "new"  # imported or uploaded, not processed yet
    PROCESSING = "processing"
    READY = "ready"  # embedded, no prediction yet
    PREDICTED = "predicted"
    REVIEWED = "reviewed"
    FAILED = "failed"


class LabelSource(StrEnum):
    IMPORT = "import"
    HUMAN = "human"


class TranscriptSource(StrEnum):
    PROVIDED = "provided"
    EMBEDDED = "embedded"
    WHISPER = "whisper"


class ModelStatus(StrEnum):
    TRAINING = "training"
    READY = "ready"
    FAILED = "failed"


class ReviewPriority(IntEnum):
    """How soon a video should be reviewed, as the platform (a user's report, a legal request) or
    a lead says. Review next takes higher ones first, among equals the one waiting longest,
    before the queue's learning order; stored as the number so the order is a plain sort."""

    NORMAL = 0
    HIGH = 1
    URGENT = 2

    @property
    def label(self) -> str:
        """``normal``, ``high``, ``urgent``: the word the API, the pages and the audit use."""
        return self.name.lower()


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Role(StrEnum):
    MODERATOR = "moderator"
    LEAD = "lead"  # label quality: adjudicates overlap answers and reviews moderators' work
    ADMIN = "admin"


class AuditAction(StrEnum):
    LABEL_ADD = "label_add"
    LABEL_REMOVE = "label_remove"
    REVIEW_SAVED = "review_saved"
    FLAGGED = "flagged"
    UNFLAGGED = "unflagged"
    CLAIM = "claim"
    RELEASE = "release"
    MODEL_TRAINED = "model_trained"
    MODEL_PROMOTED = "model_promoted"
    MODEL_ROLLED_BACK = "model_rolled_back"
    IMPORT = "import"
    TAXONOMY_IMPORTED = "taxonomy_imported"
    USER_ADDED = "user_added"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    ROLE_CHANGED = "role_changed"
    USER_RENAMED = "user_renamed"  # detail: the old and the new name
    EXTERNAL_ID_SET = "external_id_set"  # the identity provider's id for the person (SCIM)
    LANGUAGES_SET = "languages_set"  # the spoken languages an account reviews
    PASSWORD_RESET = "password_reset"  # by an admin (or `tagger users reset-password`)
    PASSWORD_CHANGED = "password_changed"  # by the account itself, with its current password
    SESSIONS_ENDED = "sessions_ended"  # the account signed out its other sessions
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SSO_BOUND = "sso_bound"  # an account's first single sign-on: the identity is bound to it
    SSO_UNBOUND = "sso_unbound"  # an admin made the account forget its identity (core/sso.py)
    # HTTP API (issue 14)
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    WEBHOOK_ADDED = "webhook_added"
    WEBHOOK_REMOVED = "webhook_removed"
    # label quality (issue 17)
    OVERLAP_ANSWER = "overlap_answer"
    OVERLAP_AGREED = "overlap_agreed"
    ADJUDICATED = "adjudicated"
    LEAD_REVIEW = "lead_review"
    RETRAIN_POLICY = "retrain_policy"
    MODEL_HELD_BACK = "model_held_back"
    QUALITY_SETTINGS = "quality_settings"
    # issue 15: a processed video's spoken language detected afterwards (tagger detect-language)
    LANGUAGE_DETECTED = "language_detected"
    # issue 15: a Whisper transcript written again by a multilingual model (tagger retranscribe)
    TRANSCRIPT_REDONE = "transcript_redone"
    # a video removed for good (core/removal.py: a takedown, an erasure request)
    VIDEO_REMOVED = "video_removed"
    # a video's review priority raised or lowered (core/review.py: set_priority)
    PRIORITY_SET = "priority_set"
    # a rule raising the priority of videos the model gives a tag added or removed
    PRIORITY_RULE_ADDED = "priority_rule_added"
    PRIORITY_RULE_REMOVED = "priority_rule_removed"
    MEDIA_DELETED = "media_deleted"  # a reviewed video's media file, past the retention period
    MEDIA_RESTORED = "media_restored"  # the same bytes ingested or uploaded again after that
    # a raised video still not reviewed when its level's review target passed (core/overdue.py)
    REVIEW_OVERDUE = "review_overdue"
    # the team's review targets for high and urgent videos changed (core/review.py)
    REVIEW_TARGETS = "review_targets"


# --- schema bookkeeping -------------------------------------------------------------------------


class SchemaInfo(SQLModel, table=True):
    """One row (id=1): the schema version this database has been upgraded to."""

    __tablename__ = "schema_info"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int
    upgraded_at: datetime = _ts()


# --- taxonomy -----------------------------------------------------------------------------------


class TaxonomyNode(SQLModel, table=True):
    """A tag. ``id`` is stable across re-imports (IAB unique id, or a hash of the full path)."""

    __tablename__ = "taxonomy_node"

    id: str = Field(primary_key=True)
    name: str
    parent_id: str | None = Field(default=None, index=True)  # primary parent; None for tier 1
    path: str = Field(unique=True)  # "Tier 1: Tier 2: Tier 3"
    level: int  # 1-based depth
    sort_key: int = Field(index=True)  # parents before children; stable display order


class TaxonomyEdge(SQLModel, table=True):
    """Parent -> child edges; a node may have several parents (DAG taxonomies)."""

    __tablename__ = "taxonomy_edge"

    parent_id: str = Field(primary_key=True)
    child_id: str = Field(primary_key=True, index=True)


# --- videos and derived media -------------------------------------------------------------------


# Stored as a video's spoken language once a multilingual model listened and heard no speech
# (ISO 639-2 "no linguistic content"), so it is not listened to again
NO_SPEECH = "zxx"


class Video(SQLModel, table=True):
    __tablename__ = "video"
    __table_args__ = (Index("ix_video_status_uncertainty", "status", "uncertainty"),)

    id: int | None = _seq_id("video_id_seq")
    external_id: str | None = Field(default=None, unique=True)  # dataset CSV `video_id`
    content_hash: str | None = Field(default=None, index=True)  # sha256 of the file bytes
    stored_path: str | None = None
    original_name: str | None = None
    title: str = ""
    description: str = ""
    duration_s: float | None = Field(default=None, sa_type=Double)
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None
    has_video: bool | None = None
    status: str = Field(default=VideoStatus.NEW, index=True)
    error: str | None = None  # one-line reason when status == failed
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    version: int = 0  # optimistic concurrency: bumped by every label save
    # User.id holding the review claim; indexed: every Review next looks up the caller's own claim
    claimed_by: int | None = Field(default=None, index=True)
    claim_expires_at: datetime | None = _ts(nullable=True, default_now=False)
    reviewed_by: int | None = None
    reviewed_at: datetime | None = _ts(nullable=True, default_now=False)
    flagged: bool = False
    flag_reason: str | None = None
    # ReviewPriority value; why, in words ("reported by 12 users"), and since when it is raised:
    # Review next serves the highest first, the longest waiting first among equals
    priority: int = Field(  # a server default as well: bulk inserts name their columns
        default=ReviewPriority.NORMAL.value, sa_column_kwargs={"server_default": "0"}
    )
    priority_reason: str | None = None
    prioritized_at: datetime | None = _ts(nullable=True, default_now=False)
    # denormalised summary of the active model's prediction, for fast queue sorting
    predicted_model_id: int | None = None
    uncertainty: float | None = Field(default=None, index=True, sa_type=Double)
    # position in the review queue's default order (0 first): BADGE over the whole unreviewed
    # pool of the version that predicted it (core/lifecycle/review_order.py); None: not ranked
    # since its last prediction (it queues after the ranked videos, least certain first)
    review_rank: int | None = Field(default=None, index=True)
    top_tag: str | None = None  # TaxonomyNode.id of the most confident most-specific tag
    # TaxonomyNode.id of the tag whose decision is the model's closest call (core.ranking): where
    # the moderator's look is worth most
    doubt_tag: str | None = None
    # issue 15 (real-world content): per modality what ingest used or dropped and why, as
    # [{"modality": ..., "status": "used"|"fallback"|"dropped"|"warning", "detail": ...}];
    # None: not ingested yet (or before this column existed)
    modality_notes_json: str | None = Field(default=None, sa_type=Text)
    # the language spoken in the audio as a multilingual Whisper model detected it (ISO 639-1),
    # while transcribing or under subtitles, and its confidence; None: not detected (no audio,
    # no speech, or the speech model is English-only and so hears every language as English)
    spoken_language: str | None = None  # NO_SPEECH: a multilingual model heard no speech
    spoken_language_probability: float | None = Field(default=None, sa_type=Double)
    # issue 16: the object a video was ingested from (``original_name`` is its URI) as the store
    # listed it: size and last-modified time, so that a re-run skips unchanged objects without
    # downloading them; None: not an object, or ingested before these columns existed
    source_size: int | None = Field(default=None, sa_type=BigInteger)
    source_modified_at: datetime | None = _ts(nullable=True, default_now=False)
    # when its media file was deleted by the retention setting (core/retention.py): a reviewed
    # video keeps its keyframes, transcript, vectors and labels; None: the media is kept
    media_deleted_at: datetime | None = _ts(nullable=True, default_now=False)


class Transcript(SQLModel, table=True):
    __tablename__ = "transcript"

    video_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    language: str | None = None
    source: str  # TranscriptSource
    text: str = Field(default="", sa_type=Text)
    segments_json: str = Field(default="[]", sa_type=Text)  # [{"start": s, "end": s, "text": str}]
    encoding: str | None = None  # issue 15: detected encoding of subtitle bytes (None: Whisper)


class OnscreenText(SQLModel, table=True):
    """Issue 15: text burned into the picture, read from keyframes by OCR (one row per video)."""

    __tablename__ = "onscreen_text"

    video_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    languages: str  # the Tesseract languages it was read with, e.g. "eng+rus"
    text: str = Field(default="", sa_type=Text)  # distinct lines, in order of appearance
    segments_json: str = Field(default="[]", sa_type=Text)  # [{"start": s, "end": s, "text": str}]


class Keyframe(SQLModel, table=True):
    __tablename__ = "keyframe"

    video_id: int = Field(primary_key=True)
    idx: int = Field(primary_key=True)
    timestamp_s: float = Field(sa_type=Double)
    thumbnail_path: str  # relative to Settings.data_dir


class Embedding(SQLModel, table=True):
    """One vector per (video, modality, encoder, encoder version); float32 bytes."""

    __tablename__ = "embedding"
    __table_args__ = (
        Index("ix_embedding_cache", "modality", "encoder_id", "encoder_version", "input_hash"),
    )

    video_id: int = Field(primary_key=True)
    modality: str = Field(primary_key=True)  # title, description, frames, subtitles, audio
    encoder_id: str = Field(primary_key=True)
    encoder_version: str = Field(primary_key=True)
    input_hash: str  # sha256 of the input (content hash for media, text hash for text)
    dim: int
    vector: bytes = Field(sa_type=LargeBinary)
    created_at: datetime = _ts()


# --- models and predictions ---------------------------------------------------------------------


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_version"

    id: int | None = _seq_id("model_version_id_seq")
    created_at: datetime = _ts()
    created_by: int | None = None  # User.id; None for CLI runs
    encoder_id: str
    encoder_version: str
    artifact_path: str | None = None  # relative to Settings.data_dir
    config_json: str = Field(default="{}", sa_type=Text)
    metrics_json: str = Field(default="{}", sa_type=Text)
    status: str = Field(default=ModelStatus.TRAINING)
    is_active: bool = False
    n_train: int = 0
    n_valid: int = 0
    notes: str = ""


class Prediction(SQLModel, table=True):
    """One model version's probability of a tag for one video: stored when it is at least
    PREDICTION_FLOOR, the tag is predicted, or it is the video's least-sure tag."""

    __tablename__ = "prediction"

    video_id: int = Field(primary_key=True)
    model_version_id: int = Field(primary_key=True)
    node_id: str = Field(primary_key=True)
    probability: float = Field(sa_type=Double)
    is_predicted: bool = False  # above the model's decision threshold


PREDICTION_FLOOR = 0.01


# --- labels and audit ---------------------------------------------------------------------------


class Label(SQLModel, table=True):
    """A tag on a video. Human labels are authoritative once ``Video.reviewed_at`` is set."""

    __tablename__ = "label"

    video_id: int = Field(primary_key=True)
    node_id: str = Field(primary_key=True)
    source: str = Field(primary_key=True)  # LabelSource
    created_by: int | None = None  # User.id; None for imports
    created_at: datetime = _ts()


class AuditLog(SQLModel, table=True):
    """Append-only trail of who did what; no query function updates or deletes it."""

    __tablename__ = "audit_log"

    id: int | None = _seq_id("audit_log_id_seq")
    created_at: datetime = _ts(index=True)
    user_id: int | None = None
    username: str | None = None
    action: str = Field(index=True)  # AuditAction
    video_id: int | None = Field(default=None, index=True)
    node_id: str | None = None
    detail_json: str = Field(default="{}", sa_type=Text)


# --- users --------------------------------------------------------------------------------------


class User(SQLModel, table=True):
    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL

    id: int | None = _seq_id("app_user_id_seq")
    username: str = Field(unique=True)
    password_hash: str  # argon2
    role: str = Field(default=Role.MODERATOR)
    created_at: datetime = _ts()
    disabled: bool = False
    # the spoken languages this account reviews (ISO 639-1 codes, comma-separated, sorted): the
    # queue hands it only videos in one of them, or with no language detected or no speech
    # (db.queries.users.language_route); None: any language
    languages: str | None = None
    # "<issuer> <subject>" of the single sign-on identity bound to this account at its first
    # sign-in through the provider (core/sso.py); a later change of e-mail there keeps the account
    # (which takes the new name)
    sso_identity: str | None = Field(default=None, unique=True)
    # the identity provider's own id for the person, as its SCIM client sent it (externalId)
    external_id: str | None = None


class UserSession(SQLModel, table=True):
    """A dashboard sign-in; only the sha256 of the token is stored."""

    __tablename__ = "user_session"

    token_hash: str = Field(primary_key=True)
    user_id: int = Field(index=True)
    created_at: datetime = _ts()
    expires_at: datetime = _ts(default_now=False)
    revoked: bool = False
    # a session single sign-on opened (core/sso.py): "<issuer> <sid>" of the provider's own
    # session, which its back-channel logout names, and the ID token that ends the provider's
    # session at sign-out (only kept with ``oidc_provider_signout``)
    sso_session: str | None = Field(default=None, index=True)
    sso_id_token: str | None = None


class LoginAttempt(SQLModel, table=True):
    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_user_time", "username", "created_at"),)

    id: int | None = _seq_id("login_attempt_id_seq")
    username: str
    created_at: datetime = _ts()
    success: bool


# --- label quality (issue 17): overlap settings and blind answers -----------------------------


class QualitySettings(SQLModel, table=True):
    """One row (id=1), set by an admin: which share of unreviewed videos goes to several
    moderators (chosen by a hash of the video id) and how many answers each needs."""

    __tablename__ = "quality_settings"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    overlap_share: float = Field(default=0.0, sa_type=Double)  # 0..1
    overlap_moderators: int = 2
    updated_by: int | None = None
    updated_at: datetime = _ts()


class ReviewTargets(SQLModel, table=True):
    """One row (id=1), set by an admin: the team's promise for raised videos, reviewed within
    this many minutes of being raised (core/review.py); no row: the defaults."""

    __tablename__ = "review_targets"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    urgent_minutes: int = 30
    high_minutes: int = 240
    updated_by: int | None = None
    updated_at: datetime = _ts()


class OverlapAnswer(SQLModel, table=True):
    """One moderator's blind answer for an overlap video. Only its author reads it back until a
    lead or admin adjudicates (core/quality.py); the final labels are ``Label`` rows."""

    __tablename__ = "overlap_answer"

    video_id: int = Field(primary_key=True)
    user_id: int = Field(primary_key=True)
    node_ids_json: str = Field(default="[]", sa_type=Text)
    answered_at: datetime = _ts()


class RetrainPolicy(SQLModel, table=True):
    """One row (id=1), set by an admin: when a retrain starts by itself (``mode``: on_demand,
    schedule, after_labels) and how much a new version must beat the active one on the same
    held-out videos to replace it automatically (core/lifecycle/retrain_policy.py)."""

    __tablename__ = "retrain_policy"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    mode: str = "on_demand"
    every_hours: float = Field(default=24.0, sa_type=Double)
    after_labels: int = 100
    min_gain: float = Field(default=0.0, sa_type=Double)  # micro AU(PRC) points
    updated_by: int | None = None
    updated_at: datetime = _ts()
    # the policy's last retrain, failed or not (a run that failed is not retried at once)
    last_run_at: datetime | None = _ts(nullable=True, default_now=False)
    last_run_job_id: int | None = None  # its background job; None: ``tagger retrain-if-due``


class PriorityRule(SQLModel, table=True):
    """A tag the model's prediction raises a video's review priority for (core/priority_rules.py):
    when the active model gives ``node_id`` at least ``min_probability`` to a video not reviewed
    yet, it is raised to ``priority`` (a ReviewPriority) unless it is there already."""

    __tablename__ = "priority_rule"

    id: int | None = _seq_id("priority_rule_id_seq")
    node_id: str = Field(unique=True)
    min_probability: float = Field(sa_type=Double)
    priority: int
    created_at: datetime = _ts()
    created_by: int | None = None  # User.id; None: the command line


class QueueRanking(SQLModel, table=True):
    """One row (id=1): the review queue's last ranking (core/lifecycle/queue_ranking.py). Videos
    that reached the pool after ``ranked_at`` (when that ranking read the pool) wait unranked
    until the next one."""

    __tablename__ = "queue_ranking"

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    ranked_at: datetime = _ts()
    model_version_id: int | None = None  # the version whose pool it ranked; None: before any
    videos: int = 0  # videos it ranked
    ranked_by: str | None = None  # its order: "badge" or "coverage"; None: nothing was ranked
    # at a cold start under a model, how far the labelled videos' nearest neighbours shared their
    # labels beyond chance (core.ranking.neighbour_agreement); None: not measured
    neighbour_agreement: float | None = Field(default=None, sa_type=Double)


class LeadVerdict(StrEnum):
    ACCEPTED = "accepted"
    FIXED = "fixed"  # the lead corrected the labels and accepted them
    REJECTED = "rejected"  # returned to the moderator with a comment


class LeadReview(SQLModel, table=True):
    """A lead's verdict on one moderator review (core/lead_review.py); per-moderator
    accuracy is computed from these rows."""

    __tablename__ = "lead_review"

    id: int | None = _seq_id("lead_review_id_seq")
    video_id: int = Field(index=True)
    moderator_id: int | None = Field(default=None, index=True)  # who made the judged review
    lead_id: int
    verdict: str  # LeadVerdict
    comment: str = ""
    labels_before_json: str = Field(default="[]", sa_type=Text)  # the moderator's labels
    labels_after_json: str = Field(default="[]", sa_type=Text)  # final (== before if accepted)
    created_at: datetime = _ts()


# --- background jobs ----------------------------------------------------------------------------


class Job(SQLModel, table=True):
    """A long-running task (train, ingest, predict) whose progress the dashboard polls."""

    __tablename__ = "job"

    id: int | None = _seq_id("job_id_seq")
    kind: str = Field(index=True)  # train, ingest, predict, ...
    status: str = Field(default=JobStatus.QUEUED, index=True)
    progress: float = Field(default=0.0, sa_type=Double)  # 0..1
    message: str = ""
    params_json: str = Field(default="{}", sa_type=Text)
    metrics_json: str = Field(default="{}", sa_type=Text)  # live metrics (loss curve, ...)
    result_json: str = Field(default="{}", sa_type=Text)
    created_by: int | None = None
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
    pid: int | None = None


# --- HTTP API: tokens and webhooks (issue 14) ---------------------------------------------------


class TokenScope(StrEnum):
    READ = "read"
    WRITE = "write"  # read + upload videos, write labels
    ADMIN = "admin"  # write + train models


class WebhookEvent(StrEnum):
    VIDEO_PREDICTED = "video.predicted"
    VIDEO_FAILED = "video.failed"
    VIDEO_REVIEWED = "video.reviewed"
    VIDEO_REMOVED = "video.removed"  # removed for good (core/removal.py)
    VIDEO_OVERDUE = "video.overdue"  # raised, and not reviewed within the team's target
    MODEL_ACTIVATED = "model.activated"  # promoted, rolled back to, or the first model trained
    MODEL_HELD_BACK = "model.held_back"  # the retraining policy's version waits for a human


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt (``next_attempt_at``)
    DELIVERED = "delivered"
    FAILED = "failed"  # gave up after the last retry


class ApiToken(SQLModel, table=True):
    """An HTTP API token of one account; only the sha256 of the secret is stored."""

    __tablename__ = "api_token"

    id: int | None = _seq_id("api_token_id_seq")
    name: str = Field(unique=True)
    user_id: int = Field(index=True)
    scope: str  # TokenScope
    token_hash: str = Field(unique=True)
    prefix: str  # the first characters of the secret, to recognise it in listings
    created_at: datetime = _ts()
    last_used_at: datetime | None = _ts(nullable=True, default_now=False)
    revoked_at: datetime | None = _ts(nullable=True, default_now=False)


class WebhookSubscriber(SQLModel, table=True):
    """A URL that receives signed event notifications (``secret`` is the HMAC key)."""

    __tablename__ = "webhook_subscriber"

    id: int | None = _seq_id("webhook_subscriber_id_seq")
    url: str = Field(unique=True)
    secret: str  # needed in clear to sign; readable by admins only (CLI)
    events: str = ""  # comma-separated WebhookEvent values; empty means all
    created_at: datetime = _ts()
    active: bool = True


class WebhookDelivery(SQLModel, table=True):
    """The outbox and delivery log: one row per (event, subscriber), written in the transaction
    that caused the event and sent by a background sender with retries."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_due", "status", "next_attempt_at"),)

    id: int | None = _seq_id("webhook_delivery_id_seq")
    subscriber_id: int = Field(index=True)
    event: str  # WebhookEvent
    video_id: int | None = None
    payload_json: str = Field(default="{}", sa_type=Text)
    status: str = Field(default=DeliveryStatus.PENDING)
    attempts: int = 0
    next_attempt_at: datetime = _ts()
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime = _ts()
    delivered_at: datetime | None = _ts(nullable=True, default_now=False)


__all__ = [
    "PREDICTION_FLOOR",
    "ApiToken",
    "AuditAction",
    "AuditLog",
    "DeliveryStatus",
    "Embedding",
    "Job",
    "JobStatus",
    "Keyframe",
    "Label",
    "LabelSource",
    "LeadReview",
    "LeadVerdict",
    "LoginAttempt",
    "ModelStatus",
    "ModelVersion",
    "OnscreenText",
    "OverlapAnswer",
    "Prediction",
    "QualitySettings",
    "RetrainPolicy",
    "Role",
    "SchemaInfo",
    "TaxonomyEdge",
    "TaxonomyNode",
    "TokenScope",
    "Transcript",
    "TranscriptSource",
    "User",
    "UserSession",
    "Video",
    "VideoStatus",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscriber",
    "utcnow",
]
