"""Ingest page: uploads are validated before anything is stored; failures are listed."""

from __future__ import annotations

from db.queries import videos


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
