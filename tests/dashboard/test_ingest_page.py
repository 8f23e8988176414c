"""Ingest page: uploads are validated before anything is stored; failures are listed; the
admin's path form takes the CLI's inputs, object URIs included, and refuses one that cannot be
used in words before a job starts."""

from __future__ import annotations

import re

import numpy as np
import pytest

from core.ingest import pipeline as ingest_pipeline
from core.ingest.storage import open_store
from core.lifecycle import jobs, prediction
from db.queries import jobs as jobs_q
from db.queries import videos
from db.tables import VideoStatus
from scripts.mediagen import write_video
from tests.support.fakes import FakeEncoder, FakeTranscriber


def test_upload_of_a_non_video_is_rejected(signed_in, seeded) -> None:
    at = signed_in("mod").switch_page("views/ingest.py").run()
    at.file_uploader(key="ingest_file").set_value(
        ("clip.mp4", b"definitely not a video", "video/mp4")
    )
    at.text_input(key="ingest_title").input("<b>x</b>")
    at.button[[b.label for b in at.button].index("Upload and process")].click().run()
    assert not at.exception
    assert at.error[0].value.replace("\\", "").startswith("clip.mp4: not a readable media file")
    with seeded.db.session() as s:
        assert videos.count_videos(s) == 4  # nothing stored
    assert not list((seeded.settings.media_dir).glob("*.mp4"))


def test_failed_videos_are_listed_with_reasons(signed_in, seeded) -> None:
    with seeded.db.session() as s:
        vid = videos.create_video(s, title="broken upload").id
        videos.set_status(s, video_id=vid, status="failed", error="no video stream")
    at = signed_in("mod").switch_page("views/ingest.py").run()
    failed = at.dataframe[0].value
    assert list(failed["reason"]) == ["no video stream"]


# --- object storage: the admin's path form takes the CLI's URIs ----------------------------------


@pytest.fixture
def run_jobs_here(seeded, monkeypatch) -> list[dict]:
    """Ingest jobs run in this process with instant models (no worker process); returns the
    params of every job started."""
    started: list[dict] = []

    def start_here(db, *, kind, params, user, settings):
        with db.session() as s:
            job_id = jobs_q.create_job(s, kind=kind, created_by=user.id, params=params).id
        started.append(params)
        jobs.run_job(db, job_id, settings=settings)
        return job_id

    monkeypatch.setattr(jobs, "start_job", start_here)
    monkeypatch.setattr(ingest_pipeline, "load_encoder", lambda settings: FakeEncoder())
    monkeypatch.setattr(ingest_pipeline, "encoder_cache_key", lambda s: FakeEncoder().cache_key)
    monkeypatch.setattr(ingest_pipeline, "load_transcriber", lambda settings: FakeTranscriber())
    # the seeded active model is rows only (no stored files): new videos stay unpredicted
    monkeypatch.setattr(prediction, "predict_with_active_model", lambda db, **kwargs: 0)
    return started


def _start_ingest(at, text: str):
    at.text_area(key="ingest_paths_text").input(text)
    return at.button[[b.label for b in at.button].index("Start ingest job")].click().run()


def test_an_admin_ingests_an_object_prefix_as_a_job(signed_in, seeded, s3, run_jobs_here, tmp_path):
    filesystem = open_store(s3.uri("media")).filesystem
    for key, shade in (("uploads/one.mp4", 30), ("uploads/two.mp4", 200)):
        clip = write_video(
            tmp_path / f"{shade}.mp4", [np.full((32, 32, 3), shade, np.uint8)] * 5, 10
        )
        with filesystem.open_output_stream(f"media/{key}") as stream:
            stream.write(clip.read_bytes())
    uri = s3.uri("media/uploads/")
    at = _start_ingest(signed_in("boss").switch_page("views/ingest.py").run(), uri)
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert run_jobs_here == [{"paths": [uri]}]  # kept as written: the job reads the query too
    with seeded.db.session() as s:
        ingested = {v.original_name: v.status for v in videos.list_videos(s) if v.original_name}
    assert ingested == {
        "s3://media/uploads/one.mp4": VideoStatus.READY,
        "s3://media/uploads/two.mp4": VideoStatus.READY,
    }
    [job] = at.get("progress")
    assert "succeeded" in job.proto.text


@pytest.mark.parametrize(
    ("uri", "error"),
    [
        (lambda s3: "nope://bucket/key.mp4", "input 'nope://bucket/key.mp4': "),
        (lambda s3: s3.uri("other/uploads/"), "s3://other/uploads: bucket 'other' does not exist"),
        (
            lambda s3: s3.uri("media/uploads/").replace(f":{s3.port}", ":9"),  # the discard port
            "cannot use the storage s3://media/uploads: .*NETWORK_CONNECTION",
        ),
    ],
    ids=["unknown scheme", "missing bucket", "unreachable endpoint"],
)
def test_a_uri_that_cannot_be_used_is_refused_in_words_before_a_job_starts(
    signed_in, seeded, s3, run_jobs_here, uri, error
):
    at = _start_ingest(signed_in("boss").switch_page("views/ingest.py").run(), uri(s3))
    assert not at.exception
    [shown] = at.error
    assert re.search(error, shown.value.replace("\\", ""))
    assert run_jobs_here == []
    with seeded.db.session() as s:
        assert videos.count_videos(s) == 4  # the seeded ones: nothing registered


def test_refused_credentials_are_said_in_words_before_a_job_starts(
    signed_in, seeded, s3, run_jobs_here, monkeypatch
):
    import moto.settings

    at = signed_in("boss").switch_page("views/ingest.py").run()
    monkeypatch.setattr(moto.settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # check every key
    at = _start_ingest(at, s3.uri("media/uploads/"))
    [shown] = at.error
    assert re.search(
        "cannot use the storage s3://media/uploads: .*DENIED", shown.value.replace("\\", "")
    )
    assert run_jobs_here == []


def test_an_ingest_job_before_the_first_model_says_how_the_queue_opens(signed_in, seeded):
    with seeded.db.session() as s:
        job_id = jobs_q.create_job(s, kind="ingest", params={"paths": ["/videos"]}).id
        jobs_q.update_job(
            s,
            job_id=job_id,
            status="succeeded",
            progress=1.0,
            message="done",
            result={"totals": {"ready": 12}, "predicted": 0, "ranked_by_coverage": 12},
        )
    at = signed_in("boss").switch_page("views/ingest.py").run()
    assert not at.exception
    captions = [c.value.replace("\\", "") for c in at.caption]
    assert any("the queue opens with 12 videos that cover the pool" in c for c in captions)
