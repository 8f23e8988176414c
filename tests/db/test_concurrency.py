"""Several processes on one DuckDB file: a CLI import and a writer loop run in subprocesses
while this process saves reviews. Every write of every side must be there afterwards."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlmodel import select

from core import review as review_rules
from core.taxonomy import from_paths, save_to_db
from db.engine import Database
from db.queries import audit, labels, users, videos
from db.tables import AuditAction, Job, LabelSource, Video

N_IMPORT_ROWS = 3000
N_JOBS = 150
N_REVIEW_VIDEOS = 20
N_ROUNDS = 5

_WRITER = textwrap.dedent(
    """
    import sys
    from db.engine import Database
    from db.queries import jobs
    db = Database(sys.argv[1])
    for i in range(int(sys.argv[2])):
        with db.session() as session:
            jobs.create_job(session, kind="writer", params={"i": i})
    """
)


@pytest.mark.slow
def test_cli_import_and_writer_process_and_reviews_all_land(duck: Database, tmp_path: Path) -> None:
    tree = from_paths([["Sports", "Soccer"], ["Sports", "Golf"], ["News"]])
    soccer, golf, news = (tree.resolve(p).id for p in ("Sports: Soccer", "Sports: Golf", "News"))
    with duck.session() as session:
        save_to_db(session, tree)
        reviewer = users.create_user(session, username="rev", password_hash="x")
        review_ids = [
            videos.create_video(session, title=f"r{i}").id for i in range(N_REVIEW_VIDEOS)
        ]
    dataset = tmp_path / "big.csv"
    with dataset.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["video_id", "title", "description", "tags"])
        for i in range(N_IMPORT_ROWS):
            writer.writerow([f"imp-{i}", f"title {i}", "desc, with comma", "Sports: Soccer, News"])

    env = {**os.environ, "TAGGER_DATABASE_URL": duck.url, "TAGGER_DATA_DIR": str(tmp_path / "data")}
    tagger = Path(sys.executable).with_name("tagger")
    cli = subprocess.Popen(
        [str(tagger), "import", str(dataset)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loop = subprocess.Popen(
        [sys.executable, "-c", _WRITER, duck.url, str(N_JOBS)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    choices = [[soccer], [golf, news], [], [news], [soccer, golf]]
    for round_ in range(N_ROUNDS):
        for video_id in review_ids:
            with duck.session() as session:
                review_rules.save_review(
                    session,
                    video_id=video_id,
                    expected_version=round_,
                    node_ids=choices[round_],
                    user=reviewer,
                )
    _, cli_err = cli.communicate(timeout=600)
    _, loop_err = loop.communicate(timeout=600)
    assert cli.returncode == 0, cli_err
    assert loop.returncode == 0, loop_err

    with duck.session() as session:
        imported = session.exec(select(Video).where(Video.external_id.is_not(None))).all()
        assert len(imported) == N_IMPORT_ROWS
        assert labels.count_labels(session, source=LabelSource.IMPORT) == 2 * N_IMPORT_ROWS
        assert len(session.exec(select(Job).where(Job.kind == "writer")).all()) == N_JOBS
        for video_id in review_ids:
            video = videos.get_video(session, video_id=video_id)
            assert video.version == N_ROUNDS
        final = review_rules.effective_labels(session, video_ids=review_ids)
        assert final == {v: sorted(choices[-1]) for v in review_ids}
        saved = audit.list_audit(session, action=AuditAction.REVIEW_SAVED, limit=10_000)
        assert len(saved) == N_REVIEW_VIDEOS * N_ROUNDS
