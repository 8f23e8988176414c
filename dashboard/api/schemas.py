"""Request and response bodies of the HTTP API (pydantic): the OpenAPI schema is generated from
these, and request bodies are validated by them (422 with the offending field named)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.review import MAX_REVIEW_TARGET_MINUTES, PRIORITY_REASON_MAX_CHARS
from db.tables import PREDICTION_FLOOR

MAX_LABELS = 200
MAX_TAG_LENGTH = 500

PriorityLevel = Literal["normal", "high", "urgent"]


class Problem(BaseModel):
    """Every error answer: ``detail`` is one line in words."""

    detail: str
    errors: list[dict[str, Any]] | None = None


class UploadAccepted(BaseModel):
    id: int
    status: str
    duplicate: bool = Field(
        description="True when these bytes (or this external id) were already uploaded: the "
        "existing video is answered and nothing new is processed."
    )
    job_id: int | None = Field(None, description="The background ingest job (GET /v1/jobs/{id}).")


class Tag(BaseModel):
    path: str = Field(examples=["Sports: Soccer"])
    probability: float


class TagNode(BaseModel):
    path: str
    probability: float
    predicted: bool
    children: list[TagNode] = []


class LabelOut(BaseModel):
    path: str
    source: str = Field(description="human (a review) or import (the dataset the video came from)")
    created_by: str | None
    created_at: datetime


class Review(BaseModel):
    reviewed: bool
    reviewed_by: str | None
    reviewed_at: datetime | None
    labels: list[LabelOut]
    blind: bool = Field(
        description="The video is in the overlap share: several moderators label it blind (none "
        "reads another's answer). A PUT of its labels stores your answer; the labels are set "
        "when the answers agree, or by a lead when they differ."
    )
    flag_reason: str | None = Field(
        description="Why the video is flagged, in words: a lead's rejection with its comment, a "
        "moderator's flag, a second review, disputed overlap answers."
    )


class PriorityOut(BaseModel):
    level: PriorityLevel = Field(
        description="How soon moderators see the video: urgent, then high, then normal; among "
        "equals the one raised longest ago first, before the queue's learning order."
    )
    reason: str | None = Field(description="Why, in the words it was raised with.")
    since: datetime | None = Field(description="When it was raised to this level.")
    due: datetime | None = Field(
        description="When the moderation team's target for this level says it is reviewed by "
        "(`since` plus the level's review target, which an admin sets: 30 minutes for urgent and"
        " 4 hours for high by default); null for normal."
    )


class PriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    level: PriorityLevel
    reason: str = Field(
        "",
        max_length=PRIORITY_REASON_MAX_CHARS,
        examples=["reported by 12 users"],
        description="Shown to the moderator; ignored for normal.",
    )


class ReviewTargetsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    urgent_minutes: int = Field(
        ge=1,
        le=MAX_REVIEW_TARGET_MINUTES,
        description="An urgent video is reviewed within this many minutes of being raised.",
    )
    high_minutes: int = Field(
        ge=1,
        le=MAX_REVIEW_TARGET_MINUTES,
        description="A high-priority video is reviewed within this many minutes of being raised.",
    )


class ReviewTargetsOut(BaseModel):
    urgent_minutes: int
    high_minutes: int


class PriorityRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tag: str = Field(
        min_length=1,
        max_length=MAX_TAG_LENGTH,
        examples=["Sensitive Topics: Terrorism"],
        description="A tag path or id.",
    )
    min_probability: float = Field(
        ge=PREDICTION_FLOOR,
        le=1,
        description="The active model's probability for the tag from which the rule applies.",
    )
    level: Literal["high", "urgent"] = Field(description="The priority it raises videos to.")


class PriorityRuleOut(BaseModel):
    id: int
    tag: str = Field(description="The tag's path.")
    min_probability: float
    level: PriorityLevel
    created_at: datetime


class PriorityRuleAdded(PriorityRuleOut):
    raised: int = Field(description="Videos the active model had predicted so, raised at once.")


class VideoOut(BaseModel):
    id: int
    external_id: str | None
    title: str
    description: str
    status: str
    error: str | None = Field(description="Why processing failed, in words (status failed).")
    duration_s: float | None
    spoken_language: str | None = Field(
        description="ISO 639-1 code of the language a multilingual Whisper model heard in the "
        "audio; `zxx` when such a model listened and heard no speech; null when not detected"
        " (English-only speech model, or no speech heard while transcribing)."
    )
    spoken_language_probability: float | None = Field(
        description="The model's confidence in `spoken_language`, 0 to 1."
    )
    created_at: datetime
    updated_at: datetime
    version: int = Field(description="Bumped by every label save; the ETag is this number.")
    priority: PriorityOut
    media_deleted_at: datetime | None = Field(
        description="When the server deleted its media file, after its review, by its media "
        "retention setting (keyframes, transcript, tags and labels stay); null: kept."
    )
    model_version: int | None = Field(description="The model version that made `tags`.")
    tags: list[Tag] = Field(description="The most specific predicted tags, most probable first.")
    least_sure_about: str | None = Field(
        description="Path of the tag whose decision the model is least sure of (its probability "
        "closest to the tag's threshold): where a reviewer's look is worth most."
    )
    tree: list[TagNode] | None = Field(
        None,
        description="With ?tree=true: every stored tag as a tree (a child never exceeds "
        "its parent).",
    )
    review: Review


class Removal(BaseModel):
    id: int
    title: str
    files_deleted: int = Field(description="Its media file and keyframe thumbnails deleted.")
    files_kept: int = Field(
        description="Files kept: a copy of the same bytes uses them, or they are not the"
        " product's (a dataset import's own folder)."
    )
    files_left: list[str] = Field(
        description="Files it could not delete, with the reason (the video is removed all the"
        " same; the server log has them too)."
    )


class HistoryEntry(BaseModel):
    at: datetime
    action: str = Field(
        examples=["review_saved"],
        description="label_add, label_remove, review_saved, claim, release, flagged, "
        "overlap_answer, adjudicated, lead_review, video_removed, ...",
    )
    account: str | None = Field(description="Who did it (None: a command-line run or an import).")
    tag: str | None = Field(description="The tag's path, for a label change.")
    detail: dict[str, Any] = Field(description="What the action recorded (e.g. a reason).")


class QueueClaim(BaseModel):
    video: VideoOut
    claim_expires_at: datetime = Field(
        description="Until then no one else is given this video; PUT its labels before, or "
        "DELETE the claim to pass it on."
    )


class VideoSummary(BaseModel):
    id: int
    external_id: str | None
    title: str
    status: str
    created_at: datetime
    reviewed: bool
    priority: PriorityLevel
    model_version: int | None
    top_tag: str | None = Field(description="Path of the most confident most specific tag.")


class VideoPage(BaseModel):
    items: list[VideoSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null at the end."
    )


class LabelsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH)]] = Field(
        max_length=MAX_LABELS,
        description="The video's labels as full paths or tag ids; an empty list means no tag.",
        examples=[["Sports: Soccer", "News"]],
    )


class TaxonomyNodeOut(BaseModel):
    id: str
    path: str
    name: str
    parent_id: str | None
    level: int


class ModelOut(BaseModel):
    id: int
    status: str
    is_active: bool
    created_at: datetime
    encoder_id: str
    encoder_version: str
    n_train: int
    n_valid: int
    metrics: dict[str, Any]
    notes: str


class TrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activate: bool = Field(False, description="Make the new version active when it is ready.")


class RetrainPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["on_demand", "schedule", "after_labels"] = Field(
        description="on_demand: never by itself; schedule: every `every_hours`; after_labels: "
        "after `after_labels` new reviews."
    )
    every_hours: float = Field(24.0, gt=0, le=24 * 365, description="schedule: hours between runs.")
    after_labels: int = Field(
        100, ge=1, le=10_000_000, description="after_labels: reviews between runs."
    )
    min_gain: float = Field(
        0.0,
        ge=-1.0,
        le=1.0,
        description="Held-out micro AU(PRC) gain over the active version a new version needs to "
        "go live by itself; below it, it waits for an admin.",
    )


class RetrainPolicyOut(BaseModel):
    mode: str
    every_hours: float
    after_labels: int
    min_gain: float
    due: str | None = Field(description="Why a retrain is due now, or null.")
    next_run: str = Field(description="When the next retrain starts, in words.")
    last_run: str | None = Field(description="How the policy's last retrain ended, or null.")


class JobOut(BaseModel):
    id: int
    kind: str
    status: str
    progress: float
    message: str
    result: dict[str, Any]
    created_at: datetime
    updated_at: datetime


RoleName = Literal["moderator", "lead", "admin"]  # db.tables.Role


class AccountOut(BaseModel):
    """A dashboard account (moderators, leads, admins), as a platform provisioning its
    reviewers sees it."""

    username: str
    role: RoleName
    disabled: bool
    languages: list[str] = Field(
        description="The spoken languages it reviews (codes as Whisper reports them); empty: "
        "any. Its queue claims keep to videos in these, or with none detected or no speech."
    )
    created_at: datetime
    last_sign_in_at: datetime | None = Field(None, description="Its latest dashboard sign-in.")
    single_sign_on: bool = Field(
        False,
        description="Bound to an identity of the team's single sign-on provider (it signed in "
        "through the provider at least once).",
    )


class AccountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=64, examples=["ann"])
    role: RoleName = "moderator"
    languages: list[str] = Field(default_factory=list, max_length=50, examples=[["de", "ru"]])


class AccountChange(BaseModel):
    """Only the fields sent change, all in one unit of work."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(
        None,
        max_length=64,
        description="A new name; sessions, reviews and history stay with the account.",
    )
    role: RoleName | None = None
    disabled: bool | None = Field(
        None, description="true signs the account out everywhere; false lets it sign in again."
    )
    languages: list[str] | None = Field(None, max_length=50, description="[]: any language.")


class AccountCreated(BaseModel):
    account: AccountOut
    password: str = Field(
        description="Generated; shown this once (only its hash is stored). The account can "
        "change it on the dashboard's Password page."
    )


class PasswordReset(BaseModel):
    password: str = Field(
        description="The account's new generated password, shown this once; every session of "
        "the account has ended."
    )


class ThreadOut(BaseModel):
    name: str
    alive: bool
    last_round_at: datetime | None
    last_error: str | None = Field(description="The last round's failure in words; null if none.")


class HealthOut(BaseModel):
    """Liveness: ``alive`` false (503) when a background thread has stopped: restart the
    server."""

    alive: bool
    threads: list[ThreadOut]


class CheckOut(BaseModel):
    name: str
    ok: bool
    detail: str


class ReadinessOut(BaseModel):
    """Readiness: ``ready`` false (503) while a check fails: send no work here yet."""

    ready: bool
    checks: list[CheckOut]


class AuditEntryOut(BaseModel):
    id: int = Field(description="Increasing: the cursor of the next page.")
    at: datetime
    action: str = Field(examples=["login_failed"], description="What was done (AuditAction).")
    account: str | None = Field(description="Who did it (None: a command-line run or an import).")
    video_id: int | None
    tag: str | None = Field(description="The tag's path, for a label change.")
    detail: dict[str, Any] = Field(description="What the action recorded (e.g. a reason).")


class AuditPageOut(BaseModel):
    entries: list[AuditEntryOut] = Field(description="Oldest first.")
    next_after: int = Field(
        description="Send as ``after`` for the next page: the last entry's id, else the same."
    )


class StorageVideoIn(BaseModel):
    uri: str = Field(
        min_length=1,
        max_length=2000,
        examples=["s3://uploads/incoming/2026/12/clip.mp4"],
        description="The object, under a prefix the server allows (TAGGER_API_STORAGE_PREFIXES), "
        "without options: the server reads it with the prefix's own.",
    )
    title: str = Field("", max_length=500)
    description: str = Field("", max_length=20_000)
    external_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Your id for the video; the same object with it again is a no-op.",
    )
    priority: PriorityIn | None = Field(
        None,
        description="Raise a new video's priority (a user's report); a video already taken "
        "keeps its own (PUT /v1/videos/{id}/priority changes it).",
    )
