"""Every write the dashboard makes, one short unit of work each, behind a fresh role check.

Pages call these instead of opening sessions themselves. Each re-resolves the signed-in user
from the token (``state.require``), so a page that shows a button by mistake, or a tampered
session state, still cannot perform an admin action: ``PermissionDeniedError`` is raised.

``core.lifecycle.registry`` and ``core.ingest.batch`` (torch, PyAV, the encoders) are imported
only by the actions that use them, so rendering a page never loads them; training runs in a job's
own process.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import streamlit as st
from sqlmodel import Session

from core import auth, bulk_review, lead_review, quality, removal, sso
from core import priority_rules as priority_rules_core
from core import review as review_rules
from core import taxonomy as taxonomy_core
from core.auth import CurrentUser
from core.config import get_settings
from core.errors import MissingFileError, TaggerError
from core.lifecycle import jobs
from core.lifecycle.retrain_policy import PolicyState, policy_state
from dashboard import cache, deferred, state
from dashboard.components import md_escape
from db.engine import Database
from db.queries import audit, review
from db.queries import priority_rules as rules_q
from db.queries import quality as quality_q
from db.queries.quality import AnswerGroup, OverlapConfig
from db.tables import (
    AuditAction,
    PriorityRule,
    RetrainPolicy,
    ReviewPriority,
    Role,
    Video,
    utcnow,
)

if TYPE_CHECKING:
    from core.agreement import AgreementReport
    from core.ingest.batch import IngestResult

T = TypeVar("T")


def defer_save_review(
    db: Database,
    *,
    video_id: int,
    expected_version: int,
    node_ids: Sequence[str],
    then_claim: int | None,
    about: object,
) -> Future[Video | None]:
    """Save the review in this browser session's worker (:mod:`dashboard.deferred`), after the
    work handed to it before; with ``then_claim`` (the video prepared next) renew the claim on
    that video in the same unit of work. The future gives that video, or None when it is no
    longer the user's to take; it raises ``db.queries.StaleVersionError`` (nothing written)
    when someone saved the video meanwhile. An overlap video (label quality) stores the
    moderator's blind answer instead of labels.

    Cached aggregates are left to expire by their TTL (seconds): clearing every cache on each
    save made the next page's counts and lists recompute from scratch at moderator pace.
    """
    return _defer(
        db,
        Role.MODERATOR,
        about,
        _save_review,
        video_id=video_id,
        expected_version=expected_version,
        node_ids=node_ids,
        then_claim=then_claim,
    )


def _save_review(
    session: Session,
    *,
    user: CurrentUser,
    video_id: int,
    expected_version: int,
    node_ids: Sequence[str],
    then_claim: int | None,
) -> Video | None:
    quality.save_labels(
        session,
        video_id=video_id,
        expected_version=expected_version,
        node_ids=node_ids,
        user=user,
    )
    return review_rules.renew_claim(
        session, video_id=then_claim, user=user, claim_minutes=get_settings().claim_minutes
    )


def save_reviews(
    db: Database, *, saves: Sequence[bulk_review.BulkSave], then_claim: int | None = None
) -> bulk_review.BulkOutcome:
    """Save several videos, each as an ordinary review, in one unit of work (a page of 24 in one
    transaction instead of 24); see ``core.bulk_review.save_reviews``. ``then_claim`` (the video
    asked about next) is claimed last, as in :func:`save_review`."""
    return _as(
        db,
        Role.MODERATOR,
        bulk_review.save_reviews,
        saves=saves,
        then_claim=then_claim,
        claim_minutes=get_settings().claim_minutes,
    )


def _as(db: Database, role: Role, rule: Callable[..., T], **kwargs: Any) -> T:
    """``rule(session, user=<signed-in user>, **kwargs)`` in one unit of work, after a fresh
    check that the signed-in user has ``role``."""
    with db.session() as session:
        return rule(session, user=state.require_in(session, role), **kwargs)


def _defer(
    db: Database, role: Role, about: object, rule: Callable[..., T], **kwargs: Any
) -> Future[T]:
    """:func:`_as` in this browser session's worker (:mod:`dashboard.deferred`): returns at
    once. The token is read now (the worker has no page run to read the cookie from) and
    checked by the write; this run's router does not wait behind it (``state.defer_check``)."""
    presented = state.token()
    state.defer_check()

    def write() -> T:
        with db.session() as session:
            return rule(session, user=state.require_token_in(session, presented, role), **kwargs)

    return deferred.work().submit(about, write, token=presented)


def _read_as(db: Database, role: Role, query: Callable[[Session], T]) -> T:
    """``query(session)`` in one unit of work, after a fresh role check (as :func:`_as`)."""
    with db.session() as session:
        state.require_in(session, role)
        return query(session)


def claim_videos(db: Database, *, video_ids: Sequence[int]) -> list[int]:
    """Hold a bulk page's videos; returns the ids held (others' videos are left out)."""
    minutes = get_settings().claim_minutes
    return _as(db, Role.MODERATOR, review.claim_videos, video_ids=video_ids, claim_minutes=minutes)


def release_videos(db: Database, *, video_ids: Sequence[int], skipped: bool) -> None:
    with db.session() as session:
        user = state.require_in(session, Role.MODERATOR)
        for video_id in video_ids:
            review_rules.release_claim(session, video_id=video_id, user=user, skipped=skipped)


def claim_next(
    db: Database, *, filters: review.QueueFilters | None, exclude_ids: Sequence[int]
) -> Video | None:
    return _as(
        db,
        Role.MODERATOR,
        review_rules.claim_next,
        filters=filters,
        exclude_ids=exclude_ids,
        claim_minutes=get_settings().claim_minutes,
    )


def claim_next_and_read(
    db: Database,
    *,
    filters: review.QueueFilters | None,
    exclude_ids: Sequence[int],
    read: Callable[[Session, Video], T],
    above: ReviewPriority | None = None,
) -> T | None:
    """:func:`claim_next`, then ``read(session, video)`` in the same unit of work (one database
    open instead of two for the video prepared next); None when the queue is empty (or has no
    video of a priority ``above`` the one given)."""

    def claim_and_read(session: Session, *, user: CurrentUser) -> T | None:
        video = review_rules.claim_next(
            session,
            user=user,
            filters=filters,
            exclude_ids=exclude_ids,
            claim_minutes=get_settings().claim_minutes,
            above=above,
        )
        return read(session, video) if video is not None else None

    return _as(db, Role.MODERATOR, claim_and_read)


def claim_video(db: Database, *, video_id: int) -> Video:
    """Raises ``db.queries.review_rules.VideoClaimedError`` when another moderator holds it."""
    minutes = get_settings().claim_minutes
    return _as(
        db, Role.MODERATOR, review_rules.claim_video, video_id=video_id, claim_minutes=minutes
    )


def defer_release(
    db: Database, *, video_id: int, skipped: bool, then_claim: int | None, about: object
) -> Future[Video | None]:
    """Give the video up, in this session's worker; ``then_claim`` as in
    :func:`defer_save_review`."""
    return _defer(
        db,
        Role.MODERATOR,
        about,
        review_rules.release_then_claim,
        video_id=video_id,
        skipped=skipped,
        then_claim=then_claim,
        claim_minutes=get_settings().claim_minutes,
    )


def defer_flag(db: Database, *, video_id: int, reason: str, about: object) -> Future[Video]:
    """Flag the video for attention, in this session's worker."""
    return _defer(
        db,
        Role.MODERATOR,
        about,
        review_rules.set_flag,
        video_id=video_id,
        flagged=True,
        reason=reason,
    )


def set_priority(db: Database, *, video_id: int, level: str, reason: str) -> Video:
    """Leads and admins: raise or lower how soon the video is reviewed (``normal``, ``high``,
    ``urgent``)."""
    video = _as(
        db,
        Role.LEAD,
        review_rules.set_priority,
        video_id=video_id,
        priority=review_rules.parse_priority(level),
        reason=reason,
    )
    cache.clear_data()
    return video


# --- admin --------------------------------------------------------------------------------------


def set_review_targets(db: Database, *, urgent_minutes: int, high_minutes: int) -> None:
    """The team's promise for raised videos, in minutes (the Queue page's admin section)."""
    _as(
        db,
        Role.ADMIN,
        review_rules.set_review_targets,
        urgent_minutes=urgent_minutes,
        high_minutes=high_minutes,
    )


def priority_rules(db: Database) -> list[PriorityRule]:
    return _read_as(db, Role.ADMIN, rules_q.list_rules)


def add_priority_rule(
    db: Database, *, node_id: str, min_probability: float, level: str
) -> priority_rules_core.AddedRule:
    added = _as(
        db,
        Role.ADMIN,
        priority_rules_core.add_rule,
        tag=node_id,
        min_probability=min_probability,
        level=review_rules.parse_priority(level),
    )
    cache.clear_data()
    return added


def remove_priority_rule(db: Database, *, rule_id: int) -> None:
    _as(db, Role.ADMIN, priority_rules_core.remove_rule, rule_id=rule_id)


def send_back(db: Database, *, video_ids: Sequence[int], reason: str) -> int:
    sent = _as(
        db, Role.ADMIN, review_rules.send_back_for_review, video_ids=video_ids, reason=reason
    )
    cache.clear_data()
    return sent


def import_taxonomy(db: Database, *, data: bytes, filename: str) -> int:
    """Replace the taxonomy from an uploaded CSV/JSON file; returns the number of nodes.

    Raises ``core.taxonomy.TaxonomyError`` for a bad file and ``db.queries.TaxonomyInUseError``
    when tags that labels use would disappear.
    """
    user = state.require(db, Role.ADMIN)
    suffix = Path(filename).suffix.lower()
    if suffix not in (".csv", ".json"):
        raise taxonomy_core.TaxonomyError(f"{filename}: expected a .csv or .json file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"taxonomy{suffix}"
        path.write_bytes(data)
        tax = taxonomy_core.load_file(path)
    with db.session() as session:
        n = taxonomy_core.save_to_db(session, tax)
        audit.add_audit(
            session,
            action=AuditAction.TAXONOMY_IMPORTED,
            user=user,
            detail={"file": filename, "nodes": n},
        )
    cache.clear_taxonomy()
    cache.clear_data()
    return n


def start_training(db: Database, *, activate: bool) -> int:
    """A background training job (see ``core.lifecycle.jobs``); returns its id."""
    user = state.require(db, Role.ADMIN)
    return jobs.start_job(
        db, kind="train", params={"activate": activate}, user=user, settings=get_settings()
    )


def promote(db: Database, *, version_id: int) -> None:
    from core.lifecycle import registry

    registry.promote(db, version_id, state.require(db, Role.ADMIN), settings=get_settings())


def promote_and_predict(db: Database, *, version_id: int) -> int:
    """Make ``version_id`` active, then predict the pool with it in the background (as the
    retraining policy does for a version it promotes); returns the prediction job's id."""
    from core.lifecycle import registry

    user = state.require(db, Role.ADMIN)
    registry.promote(db, version_id, user, settings=get_settings())
    return _predict_everything(db, version_id=version_id, user=user)


def rollback(db: Database) -> None:
    from core.lifecycle import registry

    registry.rollback(db, state.require(db, Role.ADMIN), settings=get_settings())


def repredict(db: Database, *, version_id: int) -> int:
    """Re-predict every processed video with ``version_id`` in the background; returns the job
    id."""
    user = state.require(db, Role.ADMIN)
    return _predict_everything(db, version_id=version_id, user=user)


def _predict_everything(db: Database, *, version_id: int, user: CurrentUser) -> int:
    """A background job predicting every processed video with ``version_id``; its id."""
    return jobs.start_job(
        db,
        kind="predict",
        params={"version_id": version_id, "all": True},
        user=user,
        settings=get_settings(),
    )


def ingest_paths(db: Database, *, paths: Sequence[str]) -> int:
    """Ingest server-side folders/files/dataset CSVs and object URIs (``s3://BUCKET/PREFIX/``)
    in the background; returns the job id.

    Refused before the job starts: a server path that does not exist, and a URI that is
    malformed or whose storage cannot be reached or refuses the credentials
    (``core.ingest.storage.StorageError``, the check the CLI's ingest makes).
    """
    from core.ingest import object_inputs

    user = state.require(db, Role.ADMIN)
    uris = [p for p in paths if object_inputs.is_uri(p)]
    missing = [p for p in paths if not object_inputs.is_uri(p) and not Path(p).exists()]
    if missing:
        raise MissingFileError(f"not found on the server: {', '.join(missing)}")
    object_inputs.open_sources(uris)
    return jobs.start_job(
        db, kind="ingest", params={"paths": list(paths)}, user=user, settings=get_settings()
    )


def remove_video(db: Database, *, video_id: int, reason: str) -> removal.Removed:
    """Remove a video for good (:mod:`core.removal`: its rows, media and thumbnails; audited with
    ``reason``)."""
    user = state.require(db, Role.ADMIN)
    return removal.remove_video(
        db, settings=get_settings(), video_id=video_id, user=user, reason=reason
    )


def run_admin(action: Callable[[], object], *, success: str) -> None:
    """Run a page's admin action, turning expected failures into one-line errors at the UI edge."""
    try:
        action()
    except TaggerError as e:
        st.error(md_escape(str(e)))
        return
    cache.clear_data()
    st.toast(md_escape(success))
    st.rerun()


def upload(
    db: Database, *, data: bytes, filename: str, title: str, description: str
) -> IngestResult:
    """Store and process one uploaded video in this request (moderators may upload).

    Raises ``core.ingest.batch.UploadRejected`` for a file that is too large or not a video.
    """
    from core.ingest import batch as ingest

    user = state.require(db, Role.MODERATOR)
    result = ingest.ingest_upload(
        db,
        data=data,
        filename=filename,
        title=title,
        description=description,
        settings=get_settings(),
        user=user,
    )
    cache.clear_data()
    return result


# --- HTTP API administration (issue 14) ---------------------------------------------------------


def create_api_token(db: Database, *, name: str, username: str, scope: str) -> str:
    """A new API token for ``username``; returns the secret (shown once).

    Raises ``core.tokens.TokenError`` for a bad name/account/scope and
    ``db.queries.DuplicateError`` for a taken name.
    """
    from core import tokens

    user = state.require(db, Role.ADMIN)
    return tokens.create_token(
        db, name=name, username=username, scope=scope, created_by=user
    ).secret


def revoke_api_token(db: Database, *, name: str) -> None:
    from core import tokens

    tokens.revoke_token(db, name=name, revoked_by=state.require(db, Role.ADMIN))


def add_webhook(db: Database, *, url: str, secret: str, events: Sequence[str]) -> None:
    """Raises ``core.webhooks.WebhookError`` for a bad URL/secret, ``DuplicateError`` for a
    URL already subscribed."""
    from core import webhooks

    state.require(db, Role.ADMIN)
    webhooks.add_subscriber(db, url=url, secret=secret, events=list(events))


def remove_webhook(db: Database, *, subscriber_id: int) -> None:
    from core import webhooks

    state.require(db, Role.ADMIN)
    webhooks.remove_subscriber(db, subscriber_id=subscriber_id)


# --- accounts ----------------------------------------------------------------------------------


def add_account(db: Database, *, username: str, role: str) -> str:
    """A new account with a generated password; returns the password (shown once).

    Raises ``core.auth.InvalidUserError`` for a bad name or role and ``DuplicateError`` for a
    taken name.
    """
    admin = state.require(db, Role.ADMIN)
    password = auth.generate_password()
    auth.create_user(db, username=username, password=password, role=role, created_by=admin)
    return password


def set_account_role(db: Database, *, username: str, role: str) -> None:
    """Raises ``core.auth.LastAdminError`` when it would demote the only admin who can sign in."""
    auth.update_account(db, username=username, role=role, by=state.require(db, Role.ADMIN))


def rename_account(db: Database, *, username: str, new_username: str) -> str:
    """Give the account another name (sessions, reviews and history stay); the name stored."""
    by = state.require(db, Role.ADMIN)
    return auth.rename_user(db, username=username, new_username=new_username, by=by).username


def set_account_disabled(db: Database, *, username: str, disabled: bool) -> None:
    """Disable (signed out everywhere) or enable an account."""
    auth.update_account(db, username=username, disabled=disabled, by=state.require(db, Role.ADMIN))


def set_account_languages(db: Database, *, username: str, languages: Sequence[str]) -> None:
    """The spoken languages the account reviews (none: any)."""
    auth.update_account(
        db, username=username, languages=languages, by=state.require(db, Role.ADMIN)
    )


def forget_account_sso(db: Database, *, username: str) -> None:
    """The account's next single sign-on binds the identity its username claim names."""
    sso.unbind(db, username=username, by=state.require(db, Role.ADMIN))


def reset_account_password(db: Database, *, username: str) -> str:
    """A generated password for the account, which is signed out everywhere; returns it (shown
    once)."""
    return auth.reset_password(db, username=username, by=state.require(db, Role.ADMIN))


def end_own_other_sessions(db: Database) -> int:
    """Sign the signed-in account out of every other browser; how many sessions ended."""
    user = state.require(db, Role.MODERATOR)
    return auth.end_other_sessions(db, user=user, keep_token=state.token())


def change_own_password(db: Database, *, current_password: str, new_password: str) -> None:
    """The signed-in account's own password; its other sessions end, this one stays."""
    user = state.require(db, Role.MODERATOR)
    auth.change_password(
        db,
        user=user,
        current_password=current_password,
        new_password=new_password,
        keep_token=state.token(),
    )


# --- label quality (issue 17): overlap setting, agreement, adjudication --------------------------


def get_overlap(db: Database) -> OverlapConfig:
    return _read_as(db, Role.ADMIN, quality_q.get_overlap)


def set_overlap(db: Database, *, share: float, moderators: int) -> OverlapConfig:
    return _as(db, Role.ADMIN, quality.set_overlap, share=share, moderators=moderators)


def agreement_report(db: Database) -> AgreementReport:
    state.require(db, Role.LEAD)
    from core.agreement import agreement_from_db

    return agreement_from_db(db)


def list_disputes(db: Database) -> list[AnswerGroup]:
    return _as(db, Role.LEAD, quality.list_disputes)


def overlap_progress(db: Database) -> quality.OverlapProgress:
    return _as(db, Role.LEAD, quality.overlap_progress)


def adjudicate(
    db: Database, *, video_id: int, expected_version: int, node_ids: Sequence[str]
) -> Video:
    """Raises ``db.queries.StaleVersionError`` when the video changed meanwhile."""
    video = _as(
        db,
        Role.LEAD,
        quality.adjudicate,
        video_id=video_id,
        expected_version=expected_version,
        node_ids=node_ids,
    )
    cache.clear_data()
    return video


def lead_sample(
    db: Database, *, mode: str, n: int, moderator_id: int | None = None
) -> list[lead_review.ReviewSample]:
    active = next((v for v in cache.model_versions(db.url) if v.is_active), None)
    return _as(
        db,
        Role.LEAD,
        lead_review.sample,
        mode=mode,
        n=n,
        model_version_id=active.id if active is not None else None,
        moderator_id=moderator_id,
    )


def unjudged_by_moderator(db: Database) -> list[tuple[int, str, int]]:
    return _as(db, Role.LEAD, lead_review.unjudged_by_moderator)


def lead_verdict(
    db: Database,
    *,
    video_id: int,
    verdict: str,
    expected_version: int,
    node_ids: Sequence[str] = (),
    comment: str = "",
) -> None:
    """Accept, fix (``node_ids`` become the labels) or reject (``comment`` required)."""
    user = state.require(db, Role.LEAD)
    with db.session() as session:
        if verdict == "accepted":
            lead_review.accept(session, video_id=video_id, user=user)
        elif verdict == "fixed":
            lead_review.fix(
                session,
                video_id=video_id,
                expected_version=expected_version,
                node_ids=node_ids,
                user=user,
                comment=comment,
            )
        elif verdict == "rejected":
            lead_review.reject(session, video_id=video_id, comment=comment, user=user)
        else:
            raise ValueError(f"unknown verdict {verdict!r}; expected accepted, fixed or rejected")
    cache.clear_data()


def moderator_accuracy(db: Database) -> list[lead_review.ModeratorAccuracy]:
    return _as(db, Role.LEAD, lead_review.moderator_accuracy)


def own_work(db: Database) -> lead_review.OwnWork:
    """The signed-in account's own reviews per day, accuracy and the leads' verdicts on them."""
    return _as(db, Role.MODERATOR, lead_review.own_work)


def retrain_policy_state(db: Database) -> PolicyState:
    """The policy and when it starts the next retrain (admins)."""
    return _read_as(db, Role.ADMIN, lambda session: policy_state(session, now=utcnow()))


def set_retrain_policy(
    db: Database, *, mode: str, every_hours: float, after_labels: int, min_gain: float
) -> RetrainPolicy:
    return _as(
        db,
        Role.ADMIN,
        quality.set_retrain_policy,
        mode=mode,
        every_hours=every_hours,
        after_labels=after_labels,
        min_gain=min_gain,
    )
