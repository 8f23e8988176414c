"""Subtitle parsing (SubRip, WebVTT), sidecar discovery and embedded mov_text streams."""

from __future__ import annotations

import pytest

from core.media.decode import MediaError
from core.media.subtitles import (
    SubtitleError,
    embedded_subtitle_transcript,
    extract_embedded_subtitles,
    find_sidecar_subtitles,
    load_subtitles,
    parse_subtitles,
    subtitle_language,
)
from core.media.transcript import Segment, Transcript
from scripts.mediagen import gradient_frames, write_srt, write_subrip_mkv

SRT = """1
00:00:01,000 --> 00:00:04,500
<i>Welcome</i> to the
<b>stadium</b>!

2
00:00:05,250 --> 00:00:07,000
<font color="#ffffff">Kick-off</font> {\\an8}in five

3
01:02:03,004 --> 01:02:04,000
late cue
"""

VTT = """WEBVTT - match commentary
Kind: captions

NOTE this block is a comment
spanning two lines

STYLE
::cue { color: yellow }

intro
00:01.000 --> 00:02.500 align:start position:10%
<v Commentator>Hello &amp; <c.loud>welcome</c></v>

00:00:03.000 --> 00:00:04.000
second <00:00:03.500>cue
"""


def test_srt_cues_times_and_tags():
    segments = parse_subtitles(SRT)
    assert segments == [
        Segment(1.0, 4.5, "Welcome to the stadium!"),
        Segment(5.25, 7.0, "Kick-off in five"),
        Segment(3723.004, 3724.0, "late cue"),
    ]


def test_vtt_header_notes_styles_settings_and_entities():
    segments = parse_subtitles(VTT)
    assert segments == [Segment(1.0, 2.5, "Hello & welcome"), Segment(3.0, 4.0, "second cue")]


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_bom_and_windows_line_endings(newline):
    text = "\ufeff" + SRT.replace("\n", newline)
    assert [s.text for s in parse_subtitles(text)][:2] == [
        "Welcome to the stadium!",
        "Kick-off in five",
    ]


def test_malformed_blocks_are_skipped_and_cues_sorted():
    text = """2
00:00:05,000 --> 00:00:06,000
later

garbage block without timing

3
00:00:09,000 --> 00:00:08,000
ends before it starts

4
00:00:07,000 --> 00:00:07,500


1
00:00:01,000 --> 00:00:02,000
earlier
"""
    assert parse_subtitles(text) == [Segment(1.0, 2.0, "earlier"), Segment(5.0, 6.0, "later")]


def test_short_and_dot_timestamps():
    assert parse_subtitles("1\n0:01.5 --> 0:02.25\nshort\n") == [Segment(1.5, 2.25, "short")]


def test_load_subtitles_from_file_encodings(tmp_path):
    utf16 = tmp_path / "match.fr.srt"
    utf16.write_bytes(SRT.replace("Welcome", "Bienvenue é").encode("utf-16"))
    transcript = load_subtitles(utf16)
    assert transcript.language == "fr" and transcript.source == "provided"
    assert transcript.segments[0].text == "Bienvenue é to the stadium!"
    legacy = tmp_path / "legacy.srt"
    legacy.write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCafé crème\n".encode("cp1252"))
    assert load_subtitles(legacy).segments[0].text == "Café crème"
    assert load_subtitles(legacy).language is None


def test_empty_subtitle_file_is_an_error(tmp_path):
    path = tmp_path / "empty.vtt"
    path.write_text("WEBVTT\n\n")
    with pytest.raises(SubtitleError, match="no subtitle cues"):
        load_subtitles(path)


def test_transcript_text_joins_segments():
    transcript = Transcript(
        "en", "provided", [Segment(0, 1, "Goal  for"), Segment(1, 2, "\nthe home team ")]
    )
    assert transcript.text == "Goal for the home team"
    assert Transcript(None, "whisper").text == ""


def test_subtitle_language_from_name():
    assert subtitle_language("movie.en.srt") == "en"
    assert subtitle_language("movie.pt-BR.vtt") == "pt-br"
    assert subtitle_language("movie.srt") is None
    assert subtitle_language("my.holiday.video.srt") is None


def test_sidecar_exact_stem_wins(tmp_path):
    video = tmp_path / "match day [1].mp4"
    video.write_bytes(b"")
    for name in ("match day [1].de.srt", "match day [1].en.vtt", "match day [1].srt", "other.srt"):
        (tmp_path / name).write_text("x")
    assert find_sidecar_subtitles(video) == tmp_path / "match day [1].srt"


def test_sidecar_english_then_alphabetical(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    (tmp_path / "clip.de.srt").write_text("x")
    (tmp_path / "clip.fr.SRT").write_text("x")
    assert find_sidecar_subtitles(video) == tmp_path / "clip.de.srt"
    (tmp_path / "clip.en.vtt").write_text("x")
    assert find_sidecar_subtitles(video) == tmp_path / "clip.en.vtt"


def test_no_sidecar(tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"")
    (tmp_path / "clip2.srt").write_text("x")
    (tmp_path / "clip.director.commentary.srt").write_text("x")
    assert find_sidecar_subtitles(video) is None


def test_write_srt_round_trips(tmp_path):
    segments = [Segment(0.5, 1.25, "first"), Segment(3600.0, 3601.999, "an hour later")]
    path = write_srt(segments, tmp_path / "out.srt")
    assert parse_subtitles(path.read_text()) == segments


def test_embedded_mov_text_stream(make_video):
    cues = [Segment(0.5, 1.0, "Goal for the home side"), Segment(1.2, 1.9, "Two\nlines")]
    path = make_video(seconds=2.0, subtitles=cues)
    assert extract_embedded_subtitles(path) == [cues[0], Segment(1.2, 1.9, "Two lines")]
    transcript = embedded_subtitle_transcript(path)
    assert transcript.source == "embedded" and transcript.text == "Goal for the home side Two lines"


def test_no_embedded_subtitles(make_video):
    assert extract_embedded_subtitles(make_video()) is None


def test_embedded_subtitles_of_a_non_media_file(tmp_path):
    path = tmp_path / "junk.mp4"
    path.write_bytes(b"\x00junk" * 100)
    with pytest.raises(MediaError):
        extract_embedded_subtitles(path)


CYRILLIC_SRT = (
    "1\n00:00:01,000 --> 00:00:02,500\nПривет, мир!\n\n"
    "2\n00:00:03,000 --> 00:00:04,000\nФутбольный матч начинается.\n"
)


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-16", "utf-8-sig"])
def test_sidecar_cyrillic_in_legacy_encodings(tmp_path, encoding):
    path = tmp_path / "матч.ru.srt"
    path.write_bytes(CYRILLIC_SRT.encode(encoding))
    transcript = load_subtitles(path)
    assert transcript.text == "Привет, мир! Футбольный матч начинается."
    assert transcript.encoding == encoding and not transcript.encoding_doubtful
    assert transcript.language == "ru"


@pytest.mark.parametrize("encoding", ["cp1251", "koi8-r", "utf-8"])
def test_embedded_subrip_track_in_a_legacy_encoding(tmp_path, encoding):
    cues = [Segment(0.2, 0.8, "Привет, мир!"), Segment(1.0, 1.5, "Футбольный матч начинается.")]
    path = write_subrip_mkv(tmp_path / "rip.mkv", gradient_frames(20), 10, cues, encoding=encoding)
    transcript = embedded_subtitle_transcript(path)
    assert [s.text for s in transcript.segments] == [c.text for c in cues]
    assert transcript.encoding == encoding


def test_embedded_cue_times_count_from_the_start_of_the_media(tmp_path):
    cues = [Segment(0.2, 0.8, "one hour in")]
    path = write_subrip_mkv(tmp_path / "late.mkv", gradient_frames(20), 10, cues, start_s=3600)
    [segment] = embedded_subtitle_transcript(path).segments
    assert segment.start == pytest.approx(0.2, abs=0.01)
    assert segment.end == pytest.approx(0.8, abs=0.01)


def test_a_sidecar_that_is_not_text_is_a_subtitle_error(tmp_path):
    path = tmp_path / "broken.srt"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(SubtitleError):
        load_subtitles(path)
