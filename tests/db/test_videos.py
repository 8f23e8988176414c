"""Videos, transcripts, keyframes and the prediction summary."""

from __future__ import annotations

import pytest

from db.engine import Database
from db.queries import DuplicateError, NotFoundError, videos
from db.queries.videos import PredictionSummary, StoredMedia
from db.tables import Video, VideoStatus


def test_create_find_and_duplicates(database: Database) -> None:
    with database.session() as session:
        a = videos.create_video(session, title="a", external_id="ext-a", content_hash="h1")
        b = videos.create_video(session, title="b", content_hash="h1")
        videos.create_video(session, title="c")
    with database.session() as session:
        assert videos.find_video_by_external_id(session, external_id="ext-a").id == a.id
        assert videos.find_video_by_external_id(session, external_id="nope") is None
        assert videos.find_video_by_hash(session, content_hash="h1").id == a.id
        assert videos.find_video_by_hash(session, content_hash="h1", exclude_id=a.id).id == b.id
        assert set(videos.find_videos_by_external_ids(session, external_ids=["ext-a", "x"])) == {
            "ext-a"
        }
        assert videos.count_videos(session) == 3
        assert [v.title for v in videos.get_videos(session, video_ids=[b.id, a.id, 999])] == [
            "a",
            "b",
        ]
    with pytest.raises(DuplicateError), database.session() as session:
        videos.create_video(session, external_id="ext-a")
    with pytest.raises(NotFoundError), database.session() as session:
        videos.get_video(session, video_id=999)


def test_added_videos_get_their_own_ids_and_defaults(database: Database) -> None:
    """Many rows at once (an import), each id set on its own video, defaults filled."""
    with database.session() as session:
        existing = videos.create_video(session, title="before")
        added = [Video(external_id=f"ext-{i}", title=f"t{i}") for i in range(2500)]
        videos.add_videos(session, videos=added)
    assert len({v.id for v in added}) == 2500 and existing.id not in {v.id for v in added}
    with database.session() as session:
        for video in (added[0], added[1234], added[-1]):
            stored = videos.get_video(session, video_id=video.id)
            assert (stored.external_id, stored.title) == (video.external_id, video.title)
            assert stored.status == VideoStatus.NEW and stored.created_at is not None
    with pytest.raises(ValueError, match="distinct external id"), database.session() as session:
        videos.add_videos(session, videos=[Video(external_id="x"), Video(external_id="x")])
    with pytest.raises(ValueError, match="distinct external id"), database.session() as session:
        videos.add_videos(session, videos=[Video(title="no external id")])


def test_status_error_and_ingest_listing(database: Database) -> None:
    with database.session() as session:
        ids = [videos.create_video(session, title=str(i)).id for i in range(4)]
        videos.set_status(session, video_id=ids[1], status=VideoStatus.PROCESSING)
        videos.set_status(
            session, video_id=ids[2], status=VideoStatus.FAILED, error="no video stream\ntrace..."
        )
        videos.set_status(session, video_id=ids[3], status=VideoStatus.READY)
    with database.session() as session:
        assert [v.id for v in videos.list_videos_for_ingest(session)] == ids[:2]
        failed = videos.get_video(session, video_id=ids[2])
        assert failed.error == "no video stream"
        assert videos.count_videos_by_status(session) == {
            "new": 1,
            "processing": 1,
            "failed": 1,
            "ready": 1,
        }
        assert videos.list_video_ids(session, statuses=["ready"]) == [ids[3]]
        assert [v.id for v in videos.list_videos(session, after_id=ids[1], limit=1)] == [ids[2]]
    with pytest.raises(ValueError, match="unknown video status"), database.session() as session:
        videos.set_status(session, video_id=ids[0], status="bogus")


def test_media_info_text_and_prediction_summary(database: Database) -> None:
    with database.session() as session:
        ready = videos.create_video(session, title="r", status=VideoStatus.READY)
        reviewed = videos.create_video(session, title="v", status=VideoStatus.REVIEWED)
        videos.set_media_info(
            session,
            video_id=ready.id,
            info=StoredMedia(
                "abc", "media/abc.mp4", 12.5, 640, 360, has_audio=True, has_video=True
            ),
        )
        videos.update_text(session, video_id=ready.id, description="new text")
        videos.set_prediction_summaries(
            session,
            model_version_id=7,
            summaries=[
                PredictionSummary(ready.id, 0.25, "533"),
                PredictionSummary(reviewed.id, 0.5, None),
            ],
        )
    with database.session() as session:
        r = videos.get_video(session, video_id=ready.id)
        assert (r.content_hash, r.duration_s, r.width, r.has_audio) == ("abc", 12.5, 640, True)
        assert r.description == "new text" and r.title == "r"
        assert (r.status, r.predicted_model_id, r.uncertainty, r.top_tag) == (
            "predicted",
            7,
            0.25,
            "533",
        )
        v = videos.get_video(session, video_id=reviewed.id)
        assert (v.status, v.uncertainty) == ("reviewed", 0.5)


def test_transcript_and_keyframes_replace(database: Database) -> None:
    with database.session() as session:
        vid = videos.create_video(session).id
        videos.put_transcript(
            session,
            video_id=vid,
            source="whisper",
            text="hello",
            language="en",
            segments=[{"start": 0.0, "end": 1.0, "text": "hello"}],
        )
        videos.put_transcript(session, video_id=vid, source="provided", text="привет")
        videos.replace_keyframes(session, video_id=vid, frames=[(0.0, "t/a.jpg"), (1.0, "t/b.jpg")])
        videos.replace_keyframes(session, video_id=vid, frames=[(0.5, "t/c.jpg")])
    with database.session() as session:
        t = videos.get_transcript(session, video_id=vid)
        assert (t.source, t.text, t.segments_json) == ("provided", "привет", "[]")
        assert [(k.idx, k.thumbnail_path) for k in videos.get_keyframes(session, video_id=vid)] == [
            (0, "t/c.jpg")
        ]


def test_delete_videos_removes_dependents(database: Database) -> None:
    from db.queries import labels
    from db.tables import Label

    with database.session() as session:
        vid = videos.create_video(session).id
        keep = videos.create_video(session).id
        session.add(Label(video_id=vid, node_id="n", source="import"))
        videos.replace_keyframes(session, video_id=vid, frames=[(0.0, "a.jpg")])
    with database.session() as session:
        videos.delete_videos(session, video_ids=[vid])
    with database.session() as session:
        assert videos.list_video_ids(session) == [keep]
        assert labels.get_labels(session, video_id=vid) == []
        assert videos.get_keyframes(session, video_id=vid) == []


def test_insert_synthetic_videos(database: Database) -> None:
    with database.session() as session:
        assert videos.insert_synthetic_videos(session, n=50) == 50
    with database.session() as session:
        assert videos.count_videos(session) == 50
        counts = videos.count_videos_by_status(session)
        assert counts == {"reviewed": 5, "new": 5, "predicted": 40}
        first = videos.find_video_by_external_id(session, external_id="syn-0")
        assert 0.0 <= first.uncertainty <= 1.0 and first.created_at.tzinfo is not None


def test_transcribed_speech_listing(database: Database) -> None:
    """Processed videos whose Whisper transcript is of speech in a known language not excluded."""
    cases = [  # (status, transcript source, spoken language)
        (VideoStatus.READY, "whisper", "de"),
        (VideoStatus.REVIEWED, "whisper", "ru"),
        (VideoStatus.READY, "whisper", "en"),
        (VideoStatus.READY, "whisper", "zxx"),
        (VideoStatus.READY, "whisper", None),
        (VideoStatus.READY, "provided", "de"),
        (VideoStatus.FAILED, "whisper", "de"),
        (VideoStatus.READY, None, "de"),
    ]
    with database.session() as session:
        ids = []
        for status, source, language in cases:
            video = videos.create_video(session, status=status)
            if source is not None:
                videos.put_transcript(session, video_id=video.id, source=source, text="x")
            videos.set_spoken_language(
                session, video_id=video.id, language=language, probability=None
            )
            ids.append(video.id)
    with database.session() as session:
        found = videos.list_transcribed_speech_ids(
            session,
            statuses=[VideoStatus.READY, VideoStatus.REVIEWED],
            source="whisper",
            other_than=["en", "zxx"],
        )
    assert found == ids[:2]
