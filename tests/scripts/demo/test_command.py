"""`tagger demo`: a fresh data dir ends with a usable dashboard; a second run redoes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from core import auth
from core.config import Settings
from core.ingest import pipeline as ingest_pipeline
from core.lifecycle import training
from db.engine import get_database
from db.queries import embeddings as embeddings_q
from db.queries import model_versions as models_q
from db.queries import users as users_q
from db.queries import videos as videos_q
from db.tables import Role, VideoStatus
from scripts.cli import app
from scripts.demo.command import (
    ACCOUNTS,
    MIN_VIDEOS,
    DemoAccount,
    DemoError,
    DemoReport,
    StepResult,
    format_report,
    prepare_demo,
)


def _report(accounts: list[DemoAccount]) -> DemoReport:
    return DemoReport(
        data_dir=Path("data"),
        corpus_dir=Path("data/demo-corpus"),
        active_model_id=1,
        video_counts={"predicted": 5, "failed": 1},
        failed=[("broken.mp4", "the file is empty (0 bytes)")],
        accounts=accounts,
        steps=[StepResult("ingest", 2.5, "5 videos", False), StepResult("train", 1.0, "v1", True)],
    )


def test_format_report_shows_a_password_only_when_the_account_was_created() -> None:
    text = format_report(
        _report(
            [
                DemoAccount("demo-admin", "admin", "s3cret-once"),
                DemoAccount("demo-moderator", "moderator", None),
            ]
        )
    )
    assert "s3cret-once" in text
    assert "demo-moderator  exists" in text
    assert "tagger users reset-password demo-moderator" in text
    assert "broken.mp4: the file is empty" in text
    assert "total" in text and "3.5 s" in text


def test_too_small_a_corpus_is_refused_before_anything_is_written(settings: Settings) -> None:
    with pytest.raises(DemoError, match=f"at least {MIN_VIDEOS}"):
        prepare_demo(settings, n_videos=MIN_VIDEOS - 1, progress=lambda _: None)
    assert not (settings.data_dir / "demo-corpus").exists()


def test_demo_command_rejects_a_corpus_below_the_minimum() -> None:
    result = CliRunner().invoke(app, ["demo", "--no-serve", "--videos", str(MIN_VIDEOS - 1)])
    assert result.exit_code != 0


@pytest.mark.slow
def test_prepare_demo_builds_everything_then_reuses_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines: list[str] = []
    first = prepare_demo(settings, n_videos=MIN_VIDEOS, progress=lines.append)

    assert [s.name for s in first.steps] == [
        "corpus",
        "database",
        "import",
        "ingest",
        "train",
        "predict",
        "accounts",
    ]
    assert not any(step.reused for step in first.steps)
    assert any(line.startswith("ingest:") for line in lines)
    ranked = [line for line in lines if line.startswith("  ranking the review queue")]
    assert ranked[-1].startswith("  ranking the review queue (writing the ranks): ")
    db = get_database(settings)
    with db.session() as session:
        counts = videos_q.count_videos_by_status(session)
        active = models_q.get_active_model(session)
        predicted = videos_q.list_videos(session, statuses=[VideoStatus.PREDICTED])
        embeddings_before = embeddings_q.count_embeddings(session)
        users = {u.username: u for u in users_q.list_users(session)}
    assert sum(counts.values()) == MIN_VIDEOS
    assert counts.get(VideoStatus.FAILED, 0) >= 1  # the corpus has broken files on purpose
    assert first.failed and all(reason.strip() for _, reason in first.failed)
    assert counts.get(VideoStatus.NEW, 0) == 0 and counts.get(VideoStatus.PROCESSING, 0) == 0
    assert (
        active is not None
        and active.id == first.active_model_id
        and active.encoder_id == settings.encoder
    )
    assert predicted and all(
        v.predicted_model_id == active.id and v.uncertainty is not None for v in predicted
    )
    # the review queue is ranked (BADGE over the unreviewed pool, issue 17)
    ranks = [v.review_rank for v in predicted]
    assert None not in ranks and len(set(ranks)) == len(ranks)
    assert {"title", "frames"} <= set(embeddings_before)

    assert set(users) == {name for name, _ in ACCOUNTS}
    assert users["demo-admin"].role == Role.ADMIN and users["demo-moderator"].role == Role.MODERATOR
    for account in first.accounts:
        assert account.password is not None
        assert account.password not in users[account.username].password_hash
        assert auth.authenticate(db, account.username, account.password).user.role == account.role

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("the second run must not load an encoder or train")

    monkeypatch.setattr(ingest_pipeline, "load_encoder", must_not_run)
    monkeypatch.setattr(training, "train_model", must_not_run)
    second = prepare_demo(settings, n_videos=MIN_VIDEOS, progress=lambda _: None)

    assert all(step.reused for step in second.steps), [s for s in second.steps if not s.reused]
    assert "reused" in second.step("corpus").summary
    assert "already processed" in second.step("ingest").summary
    assert second.active_model_id == first.active_model_id
    assert all(account.password is None for account in second.accounts)
    assert "password:" not in format_report(second)
    with db.session() as session:
        assert embeddings_q.count_embeddings(session) == embeddings_before
        assert videos_q.count_videos_by_status(session) == counts
        assert len(models_q.list_model_versions(session)) == 1
