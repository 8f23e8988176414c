"""``POST /v1/videos/from-storage`` on S3-compatible storage (moto's server): 202 with the
processing job, 200 for the same object again, refusals in words (422 outside the allowed
prefixes, with options of its own or for a missing object, 413 past the upload limit)."""

from __future__ import annotations

import pytest

from core.ingest.storage import open_store

pytestmark = pytest.mark.parametrize("database", ["duckdb"], indirect=True)


@pytest.fixture
def bucket(s3, api, clip):
    store = open_store(s3.uri("media"))
    with store.filesystem.open_output_stream("media/incoming/match.mp4") as stream:
        stream.write(clip(120))
    api.settings.api_storage_prefixes = s3.uri("media/incoming/")
    return s3


def _post(api, **body):
    return api.client.post("/v1/videos/from-storage", json=body, headers=api.auth("write"))


def test_an_object_is_taken_processed_and_taken_once(bucket, api):
    answer = _post(api, uri="s3://media/incoming/match.mp4", title="Derby", external_id="yt-9")
    assert answer.status_code == 202, answer.text
    video_id = answer.json()["id"]
    assert api.jobs.started == [("ingest", {"video_ids": [video_id]})]
    video = api.client.get(f"/v1/videos/{video_id}", headers=api.auth("read")).json()
    assert video["title"] == "Derby" and video["status"] in ("ready", "predicted")
    again = _post(api, uri="s3://media/incoming/match.mp4", external_id="yt-9")
    assert again.status_code == 200 and again.json() == {**again.json(), "id": video_id}
    assert again.json()["duplicate"] is True and len(api.jobs.started) == 1


def test_refusals_in_words(bucket, api):
    outside = _post(api, uri="s3://media/private/match.mp4")
    assert outside.status_code == 422 and "not under an allowed prefix" in outside.json()["detail"]
    options = _post(api, uri="s3://media/incoming/match.mp4?endpoint_override=10.0.0.1:80")
    assert options.status_code == 422 and "without options" in options.json()["detail"]
    missing = _post(api, uri="s3://media/incoming/gone.mp4")
    assert missing.status_code == 422
    assert missing.json()["detail"] == "no object at s3://media/incoming/gone.mp4"
    api.settings.max_upload_mb = 1
    big = open_store(bucket.uri("media"))
    with big.filesystem.open_output_stream("media/incoming/big.mp4") as stream:
        stream.write(b"\0" * (2 << 20))
    assert _post(api, uri="s3://media/incoming/big.mp4").status_code == 413
    assert api.jobs.started == []


def test_without_allowed_prefixes_nothing_is_read(api):
    answer = _post(api, uri="s3://media/incoming/match.mp4")
    assert answer.status_code == 422 and "TAGGER_API_STORAGE_PREFIXES" in answer.json()["detail"]
