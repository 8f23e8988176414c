"""Folder ingest decides by content: audio files, animated GIFs and videos without a video-like
name are taken; hidden, system, subtitle, image and text files are reported with a reason."""

from __future__ import annotations

import os

import av
import numpy as np
from PIL import Image

from core.ingest import batch as ingest
from db.queries import videos as videos_q
from db.tables import VideoStatus
from scripts.mediagen import gradient_frames, tone, write_video


def _wav(path, seconds=0.5):
    with av.open(str(path), mode="w", format="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (tone(seconds) * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _m4a(path, seconds=0.5):
    with av.open(str(path), mode="w", format="ipod") as container:
        stream = container.add_stream("aac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            tone(seconds).reshape(1, -1), format="fltp", layout="mono"
        )
        frame.sample_rate, frame.pts = 16000, 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _gif(path):
    frames = [Image.fromarray(f) for f in gradient_frames(5, 32, 32)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return path


def _corpus(folder):
    folder.mkdir()
    (folder / "sub").mkdir()
    (folder / ".git").mkdir()
    write_video(folder / "clip.mp4", gradient_frames(5), 10)
    (folder / "clip.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n")
    write_video(folder / "sub" / "x.mp4", gradient_frames(6), 10).rename(
        folder / "sub" / "no-extension"
    )
    _wav(folder / "sub" / "voice.wav")
    _m4a(folder / "music.m4a")
    _gif(folder / "dance.gif")
    Image.fromarray(gradient_frames(1)[0]).save(folder / "photo.jpg")
    (folder / "notes.txt").write_text("remember the milk\n")
    (folder / "blob.bin").write_bytes(os.urandom(2048))
    (folder / ".hidden.mp4").write_bytes((folder / "clip.mp4").read_bytes())
    (folder / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (folder / "Thumbs.db").write_bytes(b"\x00" * 64)
    (folder / "desktop.ini").write_text("[.ShellClassInfo]\n")


def test_scan_decides_by_content_and_reports_every_skipped_file(tmp_path):
    _corpus(tmp_path / "in")
    scan = ingest.scan_folder(tmp_path / "in")
    taken = sorted(str(p.relative_to(tmp_path / "in")) for p in scan.files)
    assert taken == ["clip.mp4", "dance.gif", "music.m4a", "sub/no-extension", "sub/voice.wav"]
    skipped = {r.name: r.reason for r in scan.skipped}
    assert set(skipped) == {
        ".git/HEAD",
        ".hidden.mp4",
        "Thumbs.db",
        "desktop.ini",
        "clip.srt",
        "photo.jpg",
        "notes.txt",
        "blob.bin",
    }
    assert all(r.status == ingest.SKIPPED for r in scan.skipped)
    assert skipped[".hidden.mp4"] == "hidden file" and skipped["Thumbs.db"] == "system file"
    assert (
        "subtitles" in skipped["clip.srt"] and "not a video or audio file" in skipped["notes.txt"]
    )
    assert "not a video or audio file" in skipped["photo.jpg"]
    assert skipped["blob.bin"]


def test_folder_ingest_takes_what_probing_accepts(
    db, settings, tmp_path, fake_encoder, fake_transcriber
):
    _corpus(tmp_path / "in")
    settings.num_keyframes = 2
    report = ingest.ingest_paths(
        db, [tmp_path / "in"], settings=settings, encoder=fake_encoder, transcriber=fake_transcriber
    )
    statuses = {r.name: r.status for r in report.results}
    for name in ("clip.mp4", "dance.gif", "music.m4a", "no-extension", "voice.wav"):
        assert statuses[name] == VideoStatus.READY, (name, report.results)
    assert report.totals[ingest.SKIPPED] == 8
    with db.session() as session:
        assert videos_q.count_videos(session) == 5
