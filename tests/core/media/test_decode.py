"""core.media.decode on generated clips (fast) and the real bigbuckbunny clip (slow), bad inputs
included."""

from __future__ import annotations

import hashlib
import io
import struct
import wave
from pathlib import Path

import av
import numpy as np
import pytest
from av.stream import Disposition
from PIL import Image

from core.media import decode as media
from core.media.decode import (
    MediaError,
    MediaInfo,
    content_hash,
    load_audio,
    make_thumbnail,
    probe,
    sample_keyframes,
)
from scripts.mediagen import gradient_frames, tone, write_video
from tests.support.scheduling import restores_scheduling

SAMPLE_RATE = 16000


def brightness(image: np.ndarray) -> float:
    return float(image.mean())


def use_or_reject(path: Path) -> MediaInfo | MediaError:
    """Run the whole front of the pipeline; a bad file must end as MediaError with a reason."""
    try:
        info = probe(path)
        frames = sample_keyframes(path, 8, info)
        audio = load_audio(path)
    except MediaError as e:
        assert e.reason.strip() and "\n" not in e.reason
        return e
    assert all(f.image.dtype == np.uint8 and f.image.ndim == 3 for f in frames)
    assert audio is None or audio.dtype == np.float32
    return info


# --- probe ---------------------------------------------------------------------------------


@pytest.fixture(params=["one pass", "seeking"])
def sampling(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways :func:`sample_keyframes` reads a video: the test clips are short, so they take
    the one pass from the start unless the limit is lowered to make them seek."""
    if request.param == "seeking":
        monkeypatch.setattr(media, "ONE_PASS_MAX_FRAMES", 0)
    return request.param


def test_probe_reports_streams_and_sizes(make_video):
    path = make_video(seconds=2.0, fps=10)
    info = probe(path)
    assert info.has_video and info.has_audio
    assert (info.width, info.height) == (64, 48)
    assert info.fps == pytest.approx(10.0)
    assert info.duration_s == pytest.approx(2.0, abs=0.15)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.rotation == 0 and info.subtitle_streams == 0
    assert "mp4" in info.container_format


def test_odd_size_is_padded_to_even(make_video):
    path = make_video(frames=gradient_frames(5, height=33, width=65), seconds=0.5)
    assert (probe(path).width, probe(path).height) == (66, 34)


def test_one_pixel_video(make_video):
    path = make_video(frames=gradient_frames(3, height=1, width=1), seconds=0.3, pix_fmt="yuv444p")
    info = probe(path)
    assert (info.width, info.height) == (1, 1)
    frames = sample_keyframes(path, 4, info)
    assert frames and frames[0].image.shape == (1, 1, 3)
    assert Image.open(io.BytesIO(make_thumbnail(frames[0].image, 64))).size == (1, 1)


def test_huge_resolution_is_rejected_before_decoding(tmp_path):
    path = tmp_path / "wide.mp4"
    write_video(path, [np.zeros((16, media.MAX_SIDE_PX + 8, 3), np.uint8)], 1.0)
    with pytest.raises(MediaError, match="exceeds"):
        probe(path)


def test_absurd_duration_metadata_is_remeasured(make_video, sampling):
    path = make_video(seconds=2.0, audio=False)
    data = bytearray(path.read_bytes())
    at = data.index(b"mvhd") + 4 + 4 + 4 + 4  # version/flags, creation, modification
    timescale = struct.unpack(">I", data[at : at + 4])[0]
    data[at + 4 : at + 8] = struct.pack(">I", 0xFFFFFFFF)  # ~50 days at 1 kHz
    path.write_bytes(bytes(data))
    assert 0xFFFFFFFF / timescale > media.MAX_DURATION_S
    info = probe(path)
    assert info.duration_s == pytest.approx(2.0, abs=0.2)
    assert len(sample_keyframes(path, 4, info)) >= 2


def test_zero_frame_durations(make_video, sampling):
    path = make_video(seconds=0.5, audio=False, timestamps=[0.0, 0.1, 0.2, 0.3, 0.4])
    data = bytearray(path.read_bytes())
    at = data.index(b"stts")
    for entry in range(struct.unpack(">I", data[at + 8 : at + 12])[0]):
        delta = at + 12 + 8 * entry + 4
        data[delta : delta + 4] = struct.pack(">I", 0)  # every frame lasts 0 ticks
    path.write_bytes(bytes(data))
    info = probe(path)
    assert info.duration_s >= 0 and (info.fps is None or info.fps > 0)
    assert sample_keyframes(path, 4, info)


def test_real_duration_beyond_limit_is_rejected(make_video):
    far = media.MAX_DURATION_S + 3600
    path = make_video(
        "far.mkv", seconds=0.3, audio=False, timestamps=[0.0, 0.1, far]
    )  # mp4: 32-bit gaps
    with pytest.raises(MediaError, match="limit"):
        probe(path)


# --- bad files -----------------------------------------------------------------------------


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        probe(path)


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.mp4")


def test_text_file_named_mp4(tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("This is not a video, just some notes about the match.\n" * 20)
    with pytest.raises(MediaError):
        probe(path)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_bytes(tmp_path, seed):
    path = tmp_path / "noise.mp4"
    path.write_bytes(
        np.random.default_rng(seed).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    )
    with pytest.raises(MediaError):
        probe(path)


def test_subtitle_only_file_has_no_media(tmp_path):
    path = tmp_path / "captions.mp4"
    path.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello\n")
    with pytest.raises(MediaError, match="no video or audio"):
        probe(path)


@pytest.mark.parametrize("faststart", [False, True], ids=["index-last", "index-first"])
@pytest.mark.parametrize("fraction", [0.02, 0.3, 0.6, 0.95, 0.999])
def test_truncated_files_fail_cleanly_or_still_work(make_video, faststart, fraction):
    path = make_video(seconds=3.0, gop=10, faststart=faststart)
    data = path.read_bytes()
    cut = int(len(data) * fraction)
    path.write_bytes(data[:cut])
    result = use_or_reject(path)
    if cut < data.index(b"moov"):  # without the index nothing can be read
        assert isinstance(result, MediaError)


def test_cut_tail_of_a_streamable_file_keeps_what_is_there(make_video, sampling):
    path = make_video(seconds=3.0, gop=10, faststart=True)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.95)])
    info = probe(path)
    assert len(sample_keyframes(path, 8, info)) >= 6
    assert load_audio(path).size > 2.5 * SAMPLE_RATE


def test_corrupted_payload_fails_cleanly_or_still_works(make_video):
    path = make_video(seconds=3.0, gop=10)
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 64
    rng = np.random.default_rng(0)
    for offset in rng.integers(start, start + 10_000, 200):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    use_or_reject(path)


# --- keyframes -----------------------------------------------------------------------------


def test_keyframes_spread_over_the_video(make_video, sampling):
    path = make_video(seconds=4.0, fps=10, gop=10)  # a keyframe every second
    frames = sample_keyframes(path, 4)
    times = [f.timestamp_s for f in frames]
    assert len(frames) == 4 and times == sorted(times)
    assert times[0] < 1.0 and times[-1] >= 3.0
    assert all(f.image.shape == (48, 64, 3) for f in frames)
    levels = [brightness(f.image) for f in frames]
    assert levels == sorted(levels) and levels[-1] - levels[0] > 100


def test_single_keyframe_video_still_gives_distinct_frames(make_video, sampling):
    path = make_video(seconds=3.0, fps=10, gop=1000)
    frames = sample_keyframes(path, 6)
    assert len(frames) == 6
    assert len({f.timestamp_s for f in frames}) == 6
    levels = [brightness(f.image) for f in frames]
    assert levels == sorted(levels) and len(set(np.round(levels))) == 6


def test_more_samples_than_frames_dedupes(make_video, sampling):
    path = make_video(seconds=0.3, fps=10)  # 3 frames
    frames = sample_keyframes(path, 16)
    assert 1 <= len(frames) <= 3
    assert len({f.timestamp_s for f in frames}) == len(frames)


def counting_forward_frames(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The time of every frame decoded forward from a keyframe, in order (a spy)."""
    seen: list[float] = []
    frames = media._frames

    def spy(container, stream):
        for frame in frames(container, stream):
            seen.append(frame.time)
            yield frame

    monkeypatch.setattr(media, "_frames", spy)
    return seen


def test_forward_decoding_is_bounded_and_skips_unreferenced_frames(make_video, monkeypatch):
    monkeypatch.setattr(media, "ONE_PASS_MAX_FRAMES", 0)
    monkeypatch.setattr(media, "MAX_FORWARD_PIXELS", 9 * 64 * 48)  # 9 frames of this clip
    decoded = counting_forward_frames(monkeypatch)
    path = make_video(seconds=5.0, fps=10, gop=1000)  # one keyframe; points every 0.5 s
    frames = sample_keyframes(path, 10)
    assert len(decoded) == 9
    # B-frames are not decoded: the 9 frames span more than 9 frame intervals
    assert decoded[-1] - decoded[0] > 1.0
    times = [round(f.timestamp_s, 2) for f in frames]
    assert times == sorted(set(times)) and times[0] == 0.0 and 3 <= len(times) <= 4
    # the last frame decoded stands in for the first point out of reach
    assert times[-1] == round(decoded[-1], 2)


def test_keyframe_groups_share_the_budget_nearest_first(make_video, monkeypatch):
    monkeypatch.setattr(media, "ONE_PASS_MAX_FRAMES", 0)
    monkeypatch.setattr(media, "FORWARD_DECODER_OPTIONS", {})  # every frame: countable
    monkeypatch.setattr(media, "MAX_FORWARD_PIXELS", 80 * 64 * 48)  # 80 frames of this clip
    path = make_video(seconds=12.0, fps=10, gop=80)  # keyframes at 0 and 8 s
    # points at 1, 3, 5, 7 s (the keyframe at 0 serves 1) and 9, 11 s (the one at 8 serves 9).
    # The group at 8 s needs 32 frames to show 11 s, less than half: the group at 0 gets the
    # other 48 (to 4.7 s): it reaches 3 s, and its last frame stands in for 5 s.
    times = [round(f.timestamp_s, 2) for f in sample_keyframes(path, 6)]
    assert times == [0.0, 3.0, 4.7, 8.0, 11.0]


def every_frame(path: Path) -> dict[float, np.ndarray]:
    """RGB of every frame decoded with default settings, by time from the stream start."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        return {
            round(frame.time - start, 6): frame.to_ndarray(format="rgb24")
            for frame in container.decode(stream)
        }


def test_short_clips_are_sampled_in_one_pass_at_the_sample_points(make_video, monkeypatch):
    path = make_video(seconds=2.0, fps=10, gop=1000)  # 20 frames, one keyframe
    # points at 0.25, 0.75, 1.25, 1.75 s: the frames on screen then, not the keyframe at 0.0
    assert [round(f.timestamp_s, 2) for f in sample_keyframes(path, 4)] == [0.2, 0.7, 1.2, 1.7]
    seeks = []
    monkeypatch.setattr(media, "_seek_keyframes", lambda *a: seeks.append(a) or {})
    sample_keyframes(path, 4)
    assert not seeks
    monkeypatch.setattr(media, "ONE_PASS_MAX_FRAMES", 19)  # one frame fewer than the clip's
    with pytest.raises(MediaError):  # the spy found nothing: it was asked
        sample_keyframes(path, 4)
    assert len(seeks) == 1


def test_only_keyframes_skip_deblocking(make_video, monkeypatch):
    monkeypatch.setattr(media, "ONE_PASS_MAX_FRAMES", 0)
    rng = np.random.default_rng(0)
    texture = np.repeat(np.repeat(rng.integers(0, 256, (24, 60, 3), np.uint8), 4, 0), 4, 1)
    moving = [texture[:, 3 * i : 3 * i + 128] for i in range(30)]  # 96x128, scrolling
    path = make_video(frames=moving, seconds=3.0, gop=1000)  # one keyframe: the rest forward
    reference = every_frame(path)
    frames = sample_keyframes(path, 6)
    assert len(frames) == 6 and frames[0].timestamp_s == 0.0
    keyframe = frames[0].image.astype(int) - reference[0.0]
    assert np.abs(keyframe).mean() < 2  # deblocking skipped: close, not necessarily equal
    for frame in frames[1:]:  # decoded forward: exactly the default decoder's frames, no drift
        assert np.array_equal(frame.image, reference[round(frame.timestamp_s, 6)])


@pytest.mark.parametrize(
    ("codec", "suffix", "options"),
    [
        # libdav1d reads skip_frame only when it opens: forward decoding needs a decoder of its own
        ("libsvtav1", "mkv", {"svtav1-params": "keyint=-1"}),
        ("libx265", "mp4", {"x265-params": "keyint=-1:scenecut=0:log-level=error"}),
        ("libvpx-vp9", "webm", {}),  # its decoder ignores skip_frame: every frame is decoded
    ],
)
def test_single_keyframe_videos_of_other_codecs_give_distinct_frames(
    tmp_path, sampling, codec, suffix, options
):
    try:
        av.Codec(codec, "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip(f"this FFmpeg build has no {codec} encoder")
    path = tmp_path / f"clip.{suffix}"
    with restores_scheduling(), av.open(str(path), mode="w") as container:  # SVT-AV1 as root
        stream = container.add_stream(codec, rate=10, options=options)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.gop_size = 1000
        for image in gradient_frames(30, height=64, width=64):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode(None))
    reference = every_frame(path)
    frames = sample_keyframes(path, 6)
    assert len(frames) == 6
    levels = [brightness(f.image) for f in frames]
    assert levels == sorted(levels) and len(set(np.round(levels))) == 6
    for frame in frames[1:]:  # not the keyframe: decoded forward, exactly as by default
        assert np.array_equal(frame.image, reference[round(frame.timestamp_s, 6)])


def test_n_must_be_positive(make_video):
    with pytest.raises(ValueError):
        sample_keyframes(make_video(), 0)


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_metadata_makes_frames_upright(make_video, degrees, sampling):
    stored = np.zeros((48, 64, 3), np.uint8)
    stored[:24, :32] = 255  # bright top-left quadrant
    path = make_video(frames=[stored] * 5, seconds=0.5, rotation=degrees)
    info = probe(path)
    assert info.rotation == degrees
    expected = np.rot90(stored, k=degrees // 90)
    assert (info.height, info.width) == expected.shape[:2]
    image = sample_keyframes(path, 1, info)[0].image
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).mean() < 20


def test_variable_frame_rate(make_video, sampling):
    stamps = [0.0, 0.04, 0.08, 1.0, 1.5, 1.52, 2.9, 3.0]
    path = make_video(
        frames=gradient_frames(len(stamps)), seconds=3.0, audio=False, timestamps=stamps
    )
    info = probe(path)
    assert info.duration_s == pytest.approx(3.0, abs=0.2)
    frames = sample_keyframes(path, 4, info)
    assert len(frames) >= 3
    for frame in frames:
        assert min(abs(frame.timestamp_s - s) for s in stamps) < 1e-3


def test_large_frames_are_scaled_down(make_video, monkeypatch, sampling):
    monkeypatch.setattr(media, "MAX_FRAME_SIDE_PX", 32)
    path = make_video(seconds=0.5)
    image = sample_keyframes(path, 1)[0].image
    assert max(image.shape[:2]) <= 32 and image.shape[2] == 3


# --- audio ---------------------------------------------------------------------------------


def test_audio_is_resampled_mono_float32(make_video):
    path = make_video(seconds=2.0)
    audio = load_audio(path)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert audio.size == pytest.approx(2.0 * SAMPLE_RATE, abs=0.1 * SAMPLE_RATE)
    assert 0.1 < np.abs(audio).max() <= 1.0
    assert load_audio(path, sample_rate=8000).size == pytest.approx(audio.size / 2, abs=800)


def test_audio_is_capped(make_video):
    audio = load_audio(make_video(seconds=2.0), max_seconds=0.5)
    assert audio.size == SAMPLE_RATE // 2


def test_video_only_has_no_audio(make_video):
    path = make_video(audio=False)
    assert probe(path).has_audio is False
    assert load_audio(path) is None


def test_audio_only_file(tmp_path):
    path = tmp_path / "voice.wav"
    samples = (tone(1.5, hz=300) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.tobytes())
    info = probe(path)
    assert info.has_audio and not info.has_video
    assert (info.width, info.height, info.video_codec) == (0, 0, None)
    assert sample_keyframes(path, 8, info) == []
    assert load_audio(path).size == samples.size


def test_cover_art_is_not_video(tmp_path):
    path = tmp_path / "song.m4a"
    with av.open(str(path), mode="w", format="mp4") as container:
        sound = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        cover = container.add_stream("mjpeg")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
        cover.disposition = Disposition.attached_pic
        frame = av.AudioFrame.from_ndarray(tone(2.0).reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        container.mux(sound.encode(frame))
        container.mux(sound.encode(None))
        picture = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
        container.mux(cover.encode(picture))
        container.mux(cover.encode(None))
    info = probe(path)
    assert info.has_audio and not info.has_video
    assert sample_keyframes(path, 4, info) == []


# --- names, hashes, thumbnails -------------------------------------------------------------


def test_non_ascii_file_name(make_video):
    path = make_video("видео ünï 🎬.mp4")
    assert probe(path).has_video
    assert len(sample_keyframes(path, 2)) == 2
    assert load_audio(path) is not None
    assert content_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_content_hash_streams_large_files(tmp_path, monkeypatch):
    monkeypatch.setattr(media, "_HASH_CHUNK", 7)
    path = tmp_path / "blob.bin"
    path.write_bytes(bytes(range(256)) * 10)
    assert content_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    other = tmp_path / "other.bin"
    other.write_bytes(bytes(range(256)) * 10 + b"x")
    assert content_hash(other) != content_hash(path)


def test_thumbnail_is_a_small_jpeg():
    image = np.zeros((300, 600, 3), np.uint8)
    image[:, 300:] = 200
    picture = Image.open(io.BytesIO(make_thumbnail(image, 120)))
    assert picture.format == "JPEG" and picture.size == (120, 60)


def test_thumbnail_rejects_non_rgb():
    with pytest.raises(ValueError):
        make_thumbnail(np.zeros((10, 10), np.uint8), 64)


# --- the real clip -------------------------------------------------------------------------


@pytest.mark.slow
def test_bigbuckbunny_probe(bigbuckbunny):
    info = probe(bigbuckbunny)
    assert (info.width, info.height) == (1280, 720)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(5.3, abs=0.1)
    assert (info.video_codec, info.audio_codec) == ("h264", "aac")
    assert info.has_audio and info.rotation == 0


@pytest.mark.slow
def test_bigbuckbunny_keyframes_cover_the_clip(bigbuckbunny, sampling):
    info = probe(bigbuckbunny)
    frames = sample_keyframes(bigbuckbunny, 16, info)
    times = [f.timestamp_s for f in frames]
    assert len(frames) == 16 and times == sorted(times) and len(set(times)) == 16
    assert times[0] < 0.1 * info.duration_s and times[-1] > 0.9 * info.duration_s
    for frame in frames:
        assert frame.image.shape == (720, 1280, 3)
        thumbnail = Image.open(io.BytesIO(make_thumbnail(frame.image, 192)))
        assert thumbnail.size == (192, 108)
    assert len({round(brightness(f.image), 1) for f in frames}) > 8  # the scene changes


@pytest.mark.slow
def test_bigbuckbunny_audio_matches_duration(bigbuckbunny):
    info = probe(bigbuckbunny)
    audio = load_audio(bigbuckbunny)
    assert audio.size == pytest.approx(info.duration_s * SAMPLE_RATE, abs=0.05 * SAMPLE_RATE)
    assert np.abs(audio).max() > 0.05


@pytest.mark.slow
@pytest.mark.parametrize("fraction", [0.001, 0.25, 0.5, 0.9, 0.998])
def test_bigbuckbunny_truncated(bigbuckbunny, tmp_path, fraction):
    data = bigbuckbunny.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * fraction)])
    assert isinstance(use_or_reject(path), MediaError)  # its index is at the end
