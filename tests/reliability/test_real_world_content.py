"""Real-world content through the real ingest (fake encoder and transcriber, real decoding):
legacy-encoded subtitles, partly damaged files that keep their readable modalities with notes a
moderator can read, and streams whose timestamps start late."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.ingest import batch as ingest
from core.media.transcript import Segment
from db.engine import Database
from db.queries import videos as videos_q
from db.tables import VideoStatus
from scripts.mediagen import gradient_frames, tone, write_subrip_mkv, write_video
from tests.support.fakes import SPOKEN_TEXT

RUSSIAN_SRT = "1\n00:00:00,200 --> 00:00:01,500\nПривет, мир! Футбольный матч начинается.\n"


def _ingest(db, settings, paths, fake_encoder, fake_transcriber) -> ingest.IngestReport:
    settings.num_keyframes = 2
    return ingest.ingest_paths(
        db, paths, settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )


def _stored(db: Database, video_id: int):
    with db.session() as session:
        video = videos_q.get_video(session, video_id=video_id)
        transcript = videos_q.get_transcript(session, video_id=video_id)
        notes = json.loads(video.modality_notes_json or "[]")
        return video, transcript, notes


def _notes(notes: list[dict], status: str) -> dict[str, str]:
    return {n["modality"]: n["detail"] for n in notes if n["status"] == status}


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-16", "utf-8-sig"])
def test_cyrillic_sidecar_is_stored_as_utf8_with_its_encoding(
    db, settings, tmp_path, fake_encoder, fake_transcriber, encoding
):
    video = write_video(tmp_path / "матч.mp4", gradient_frames(10), 10, audio=tone(1.0))
    (tmp_path / "матч.srt").write_bytes(RUSSIAN_SRT.encode(encoding))
    [result] = _ingest(db, settings, [video], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    _, transcript, notes = _stored(db, result.video_id)
    assert transcript.text == "Привет, мир! Футбольный матч начинается."
    assert transcript.encoding == encoding and transcript.source == "provided"
    assert encoding in _notes(notes, "used")["subtitles"]
    assert fake_transcriber.calls == 0


def test_malformed_sidecar_falls_back_to_the_embedded_track(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    cues = [Segment(0.2, 0.8, "Привет, мир!")]
    video = write_subrip_mkv(tmp_path / "rip.mkv", gradient_frames(20), 10, cues, encoding="cp1251")
    (tmp_path / "rip.srt").write_text("this is not a subtitle file\n")
    [result] = _ingest(db, settings, [video], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    _, transcript, notes = _stored(db, result.video_id)
    assert transcript.source == "embedded" and transcript.text == "Привет, мир!"
    assert transcript.encoding == "cp1251"
    assert "rip.srt" in _notes(notes, "fallback")["subtitles"]
    assert "inside the video" in _notes(notes, "used")["subtitles"]


def test_malformed_sidecar_without_embedded_track_falls_back_to_whisper(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    video = write_video(tmp_path / "talk.mp4", gradient_frames(10), 10, audio=tone(1.0))
    (tmp_path / "talk.srt").write_bytes(b"1\n00:00:01,000 --> garbage\n\x00\x01")
    [result] = _ingest(db, settings, [video], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    _, transcript, notes = _stored(db, result.video_id)
    assert transcript.source == "whisper" and transcript.text == SPOKEN_TEXT
    assert "talk.srt" in _notes(notes, "fallback")["subtitles"]
    assert "Whisper" in _notes(notes, "used")["subtitles"]


def test_damaged_audio_packets_keep_the_rest_of_the_audio(
    db, settings, tmp_path, hostile, fake_encoder, fake_transcriber
):
    path = hostile.damaged_packets(tmp_path / "crackle.mp4", "audio", every=2)
    [result] = _ingest(db, settings, [path], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    video, _, notes = _stored(db, result.video_id)
    assert video.has_audio and video.has_video
    assert set(_notes(notes, "used")) == {"frames", "audio", "subtitles"}
    assert not _notes(notes, "dropped")


def test_unreadable_audio_is_dropped_video_kept(
    db, settings, tmp_path, hostile, fake_encoder, fake_transcriber
):
    path = hostile.damaged_packets(tmp_path / "mute.mp4", "audio", every=1)
    [result] = _ingest(db, settings, [path], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    video, transcript, notes = _stored(db, result.video_id)
    assert video.has_video and not video.has_audio and transcript is None
    assert "no decodable frames" in _notes(notes, "dropped")["audio"]
    assert "frames" in _notes(notes, "used")
    assert fake_encoder.encoded("audio") == 0 and fake_encoder.encoded("frames") == 1


def test_undecodable_video_is_dropped_audio_kept(
    db, settings, tmp_path, hostile, fake_encoder, fake_transcriber
):
    path = hostile.damaged_packets(tmp_path / "black.mp4", "video", every=1)
    [result] = _ingest(db, settings, [path], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    video, transcript, notes = _stored(db, result.video_id)
    assert video.has_audio and not video.has_video
    assert "no decodable frames" in _notes(notes, "dropped")["frames"]
    assert transcript.source == "whisper"


def test_a_video_fails_only_when_nothing_usable_remains(
    db, settings, tmp_path, hostile, fake_encoder, fake_transcriber
):
    path = hostile.damaged_packets(tmp_path / "dead.mp4", "both")
    [result] = _ingest(db, settings, [path], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.FAILED
    assert "video stream has no decodable frames" in result.reason
    assert "audio stream has no decodable frames" in result.reason


def test_late_start_reports_the_real_duration_and_relative_times(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    cues = [Segment(0.2, 0.8, "one hour in")]
    mkv = write_subrip_mkv(tmp_path / "late.mkv", gradient_frames(20), 10, cues, start_s=3600)
    mp4 = write_video(
        tmp_path / "late.mp4",
        gradient_frames(20),
        10,
        timestamps=[3600 + i / 10 for i in range(20)],
    )
    report = _ingest(db, settings, [mkv, mp4], fake_encoder, fake_transcriber)
    for result in report.results:
        assert result.status == VideoStatus.READY, result.reason
        assert result.duration_s == pytest.approx(2.0, abs=0.15)
        with db.session() as session:
            times = [
                k.timestamp_s for k in videos_q.get_keyframes(session, video_id=result.video_id)
            ]
        assert times and all(0.0 <= t < 2.0 for t in times), times
    _, transcript, _ = _stored(db, report.results[0].video_id)
    assert transcript.segments_json and json.loads(transcript.segments_json)[0]["start"] == (
        pytest.approx(0.2, abs=0.01)
    )


def test_only_the_audio_the_encoder_reads_is_kept_for_encoding(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    video = write_video(tmp_path / "long.mp4", gradient_frames(30), 10, audio=tone(3.0))
    fake_encoder.max_audio_seconds = 1.0
    [result] = _ingest(db, settings, [video], fake_encoder, fake_transcriber).results
    assert result.status == VideoStatus.READY
    [item] = fake_encoder.items
    assert item.audio.size == 16000  # the transcriber heard all 3 s; the encoder gets 1 s


def _caption_frames(count: int) -> list:
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 40)
    frames = []
    for i in range(count):
        image = Image.new("RGB", (640, 360), (30 + 10 * i, 60, 40))
        if i >= count // 2:
            ImageDraw.Draw(image).text((40, 140), "GRAND FINAL", font=font, fill="white")
        frames.append(np.asarray(image))
    return frames


def test_onscreen_text_is_read_stored_embedded_and_reused(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    video = write_video(tmp_path / "final.mp4", _caption_frames(20), 10, gop=5)
    settings.onscreen_text_frames = 4
    settings.num_keyframes = 4
    report = ingest.ingest_paths(
        db, [video], settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    [result] = report.results
    assert result.status == VideoStatus.READY
    with db.session() as session:
        row = videos_q.get_onscreen_text(session, video_id=result.video_id)
    assert row.text == "GRAND FINAL" and row.languages == "eng+rus"
    [segment] = json.loads(row.segments_json)
    assert 1.0 <= segment["start"] <= segment["end"] < 2.0  # shown in the second half
    assert fake_encoder.encoded("onscreen_text") == 1
    _, _, notes = _stored(db, result.video_id)
    assert "1 line of text" in _notes(notes, "used")["onscreen_text"]

    copy = tmp_path / "again.mkv"  # the same bytes: artifacts and vectors reused, nothing read
    copy.write_bytes(video.read_bytes())
    [again] = ingest.ingest_paths(
        db, [copy], settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    ).results
    assert again.status == ingest.DUPLICATE and fake_encoder.encoded("onscreen_text") == 1


def test_frames_without_text_have_no_onscreen_modality(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    video = write_video(tmp_path / "plain.mp4", gradient_frames(10), 10)
    [result] = _ingest(db, settings, [video], fake_encoder, fake_transcriber).results
    with db.session() as session:
        assert videos_q.get_onscreen_text(session, video_id=result.video_id).text == ""
    assert fake_encoder.encoded("onscreen_text") == 0
