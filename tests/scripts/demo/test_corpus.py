"""Demo corpus: topic data valid against IAB 3.0, deterministic plan and CSV (fast); a small real
corpus rendered, probed and regenerated (slow)."""

from __future__ import annotations

import csv
import io
import shutil
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pytest

from core.dataset import read_dataset, resolve_tags
from core.media.decode import MediaError, probe
from core.taxonomy import load_iab3
from scripts.demo import audio as demo_audio
from scripts.demo import scenes as demo_scenes
from scripts.demo.corpus import CSV_NAME, MANIFEST_NAME, CorpusManifest, generate_corpus
from scripts.demo.plan import (
    MAX_SECONDS,
    MIN_SECONDS,
    Shot,
    VideoSpec,
    plan_corpus,
    spec_digest,
    write_ground_truth,
)
from scripts.demo.render import render_frames, render_shot, render_video
from scripts.demo.topics import TOPICS

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)


@pytest.fixture(scope="module")
def iab3():
    return load_iab3()


@pytest.fixture(scope="module")
def plan120() -> list[VideoSpec]:
    return plan_corpus(120, seed=0)


# ---- topic data ---------------------------------------------------------------------------------


def test_every_topic_tag_is_an_exact_iab3_path(iab3) -> None:
    for topic in TOPICS:
        for tag in topic.tags:
            node = iab3.find(tag)
            assert node is not None and node.path == tag, (
                f"{topic.key}: {tag!r} is not an exact IAB 3.0 path"
            )
            assert "," not in tag, f"{tag!r} would be split by the CSV tag separator"


def test_topics_span_ten_tier1_with_deep_and_multilabel_tags() -> None:
    tags = [tag for topic in TOPICS for tag in topic.tags]
    assert len({tag.split(": ")[0] for tag in tags}) >= 10
    assert sum(tag.count(": ") >= 2 for tag in tags) >= 10, "too few tier-3 (or deeper) tags"
    multi = [t for t in TOPICS if len(t.tags) > 1]
    assert len(multi) >= 5
    assert any(len({tag.split(": ")[0] for tag in t.tags}) > 1 for t in multi), (
        "no cross-category video"
    )
    assert len({t.key for t in TOPICS}) == len(TOPICS)


def test_topics_name_known_scenes_and_ambiences() -> None:
    for topic in TOPICS:
        assert topic.ambience in demo_audio.AMBIENCE_KINDS, topic.key
        assert len(topic.sentences) >= 5 and topic.subjects and topic.descriptions, topic.key
        for scene in topic.scenes:
            assert scene.kind in demo_scenes.SCENE_KINDS, f"{topic.key}: {scene.kind}"


def test_unknown_scene_kind_and_ambience_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown scene kind 'hologram'"):
        demo_scenes.render("hologram", "", None, (10, 10), 0.0, None, (), ())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown ambience 'theremin'"):
        demo_audio.ambience("theremin", 100, 16000, np.random.default_rng(0))


# ---- planning -----------------------------------------------------------------------------------


def test_plan_is_a_pure_function_of_n_and_seed(plan120) -> None:
    assert plan_corpus(120, seed=0) == plan120
    assert spec_digest(plan_corpus(120, seed=0)) == spec_digest(plan120)
    other = plan_corpus(120, seed=1)
    assert [s.title for s in other] != [s.title for s in plan120]


def test_plan_of_120_covers_categories_and_edge_cases(plan120) -> None:
    ids = [s.video_id for s in plan120]
    assert len(set(ids)) == 120 and all(len(i) == 11 and i.isalnum() for i in ids)
    tier1 = Counter(tag.split(": ")[0] for s in plan120 for tag in s.tags)
    assert len(tier1) >= 10 and min(tier1.values()) >= 3
    assert sorted(s.broken for s in plan120 if s.broken) == ["empty", "not_video", "truncated"]
    audio = Counter(s.audio for s in plan120 if not s.broken)
    assert audio["captioned"] >= 3 and audio["silent"] >= 3 and audio["embedded_subs"] >= 1
    assert audio["narrated"] >= 80
    assert sum(not s.description for s in plan120) >= 10
    assert sum(s.rotation == 90 for s in plan120) >= 1
    assert sum(len(s.tags) > 1 for s in plan120) >= 10
    assert any(not c.isascii() for s in plan120 for c in s.title + s.description), "no Unicode text"


def test_specs_are_well_formed(plan120) -> None:
    for spec in plan120:
        assert MIN_SECONDS <= spec.duration_s <= MAX_SECONDS
        assert spec.shots[0].start_s == 0.0 and spec.shots[-1].end_s == spec.duration_s
        assert all(a.end_s == b.start_s for a, b in zip(spec.shots, spec.shots[1:]))
        assert all(shot.end_s - shot.start_s >= 1.0 for shot in spec.shots)
        assert spec.narration and all(spec.narration)
        topic = next(t for t in TOPICS if t.key == spec.topic)
        assert set(spec.narration) & set(topic.sentences), (
            "narration must carry the topic's own words"
        )
        assert spec.tags == topic.tags


def test_ground_truth_csv_round_trips(plan120, tmp_path: Path, iab3) -> None:
    path = write_ground_truth(plan120, tmp_path / CSV_NAME)
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["video_id"] for r in rows] == [s.video_id for s in plan120]
    for row, spec in zip(rows, plan120):
        assert (row["title"], row["description"]) == (spec.title, spec.description)
        assert tuple(t.strip() for t in row["tags"].split(",")) == spec.tags
    assert any("\n" in r["description"] for r in rows)
    # the product's own importer reads the file and resolves every tag
    for row in read_dataset(path):
        node_ids, unknown = resolve_tags(row.tags, iab3)
        assert not unknown and len(node_ids) == len(
            next(s for s in plan120 if s.video_id == row.video_id).tags
        )


def test_ground_truth_is_byte_identical_for_the_same_seed(tmp_path: Path) -> None:
    a = write_ground_truth(plan_corpus(30, seed=5), tmp_path / "a.csv").read_bytes()
    b = write_ground_truth(plan_corpus(30, seed=5), tmp_path / "b.csv").read_bytes()
    assert a == b


# ---- rendering pieces (no real media) -----------------------------------------------------------


def test_every_renderer_draws_a_varied_moving_frame() -> None:
    for kind in sorted(demo_scenes.RENDERERS):
        scenes = [s for t in TOPICS for s in t.scenes if s.kind == kind]
        for scene in scenes[:2]:
            shot = Shot(scene.kind, scene.variant, scene.palette, scene.words, 0.0, 4.0, 7, (1, 0))
            first, later = render_shot(shot, 0.0, 320, 180), render_shot(shot, 1.3, 320, 180)
            assert first.shape == (180, 320, 3) and first.dtype == np.uint8
            assert first.std() > 10, f"{kind}/{scene.variant} is nearly uniform"
            assert not np.array_equal(first, later), f"{kind}/{scene.variant} does not move"


def test_frames_are_deterministic_and_rotated_ones_stored_landscape(plan120) -> None:
    procedural = next(
        s for s in plan120 if all(shot.kind != "clip" for shot in s.shots) and not s.rotation
    )
    a, b = list(render_frames(procedural)), list(render_frames(procedural))
    assert len(a) == round(procedural.duration_s * procedural.fps)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert a[0].shape == (procedural.height, procedural.width, 3)
    rotated = next(s for s in plan120 if s.rotation == 90)
    frame = next(render_frames(rotated))
    assert frame.shape == (rotated.width, rotated.height, 3)  # portrait display, stored turned


def test_ambiences_are_seeded_and_normalised() -> None:
    for kind in sorted(demo_audio.AMBIENCES):
        a = demo_audio.ambience(kind, 16000, 16000, np.random.default_rng(3))
        b = demo_audio.ambience(kind, 16000, 16000, np.random.default_rng(3))
        assert a.dtype == np.float32 and np.isfinite(a).all(), kind
        assert np.array_equal(a, b), kind
        assert np.sqrt(np.mean(a.astype(np.float64) ** 2)) == pytest.approx(1.0, rel=1e-3), kind
    assert not demo_audio.ambience("none", 100, 16000, np.random.default_rng(0)).any()


# ---- a real small corpus (slow) -----------------------------------------------------------------


def _has_audio_stream(path: Path) -> bool:
    with av.open(str(path)) as container:
        return bool(container.streams.audio)


def _measured_seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        last = max(frame.time for frame in container.decode(stream))
        return last + 1 / float(stream.average_rate)


@pytest.mark.slow
@needs_espeak
def test_small_corpus_is_complete_playable_and_reproducible(tmp_path: Path) -> None:
    manifest = generate_corpus(tmp_path / "a", n_videos=12, seed=11, jobs=1)
    videos = tmp_path / "a" / "videos"
    specs = {s.video_id: s for s in plan_corpus(12, seed=11)}
    assert manifest.n_videos == 12 and set(manifest.broken.values()) == {
        "empty",
        "truncated",
        "not_video",
    }
    assert manifest.captioned and manifest.silent
    for video_id, spec in specs.items():
        path = videos / f"{video_id}.mp4"
        assert path.is_file()
        srt = videos / f"{video_id}.srt"
        assert srt.is_file() == (spec.audio == "captioned" and not spec.broken)
        if spec.broken:
            with pytest.raises(MediaError):
                probe(path)
            continue
        assert MIN_SECONDS <= _measured_seconds(path) <= MAX_SECONDS + 0.1
        assert _has_audio_stream(path) == spec.has_audio_track, video_id
        if srt.is_file():
            text = srt.read_text(encoding="utf-8")
            assert "-->" in text and spec.narration[0] in text
    assert (
        videos / f"{next(k for k, v in manifest.broken.items() if v == 'empty')}.mp4"
    ).stat().st_size == 0

    again = generate_corpus(tmp_path / "b", n_videos=12, seed=11, jobs=2)
    assert (tmp_path / "a" / CSV_NAME).read_bytes() == (tmp_path / "b" / CSV_NAME).read_bytes()
    assert again.spec_digest == manifest.spec_digest
    assert CorpusManifest.load(tmp_path / "a" / MANIFEST_NAME) == manifest


@pytest.mark.slow
@needs_espeak
def test_complete_corpus_is_not_regenerated(tmp_path: Path) -> None:
    first = generate_corpus(tmp_path, n_videos=4, seed=2, jobs=1)
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "videos").iterdir()}
    second = generate_corpus(tmp_path, n_videos=4, seed=2, jobs=1)
    assert second == first
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "videos").iterdir()} == stamps
    (tmp_path / "videos" / f"{first.videos[0]['video_id']}.mp4").unlink()
    third = generate_corpus(tmp_path, n_videos=4, seed=2, jobs=1)
    assert (tmp_path / "videos" / f"{third.videos[0]['video_id']}.mp4").is_file()


@pytest.mark.slow
@needs_espeak
def test_rotated_embedded_subtitle_and_clip_videos_probe_as_planned(
    plan120, tmp_path: Path
) -> None:
    rotated = next(s for s in plan120 if s.rotation == 90 and not s.broken)
    embedded = next(s for s in plan120 if s.audio == "embedded_subs")
    clip = next(
        s
        for s in plan120
        if any(shot.variant == "bigbuckbunny" for shot in s.shots) and not s.broken
    )
    info = probe(render_video(rotated, tmp_path).path)
    assert (info.width, info.height, info.rotation) == (180, 320, 90)
    info = probe(render_video(embedded, tmp_path).path)
    assert info.subtitle_streams == 1 and info.has_audio
    info = probe(render_video(clip, tmp_path).path)
    assert info.has_video and info.duration_s == pytest.approx(clip.duration_s, abs=0.2)


def test_main_parses_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from scripts.demo import corpus as demo_corpus

    seen: dict = {}

    def fake_generate(out_dir, n_videos, seed, *, jobs, progress):
        seen.update(out_dir=out_dir, n=n_videos, seed=seed, jobs=jobs)
        return CorpusManifest(
            seed, n_videos, "d", CSV_NAME, "videos", {}, {}, [], [], [], [], [], 0.1, 0
        )

    monkeypatch.setattr(demo_corpus, "generate_corpus", fake_generate)
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    assert demo_corpus.main(["--out", str(tmp_path), "--n", "7", "--seed", "3", "--jobs", "1"]) == 0
    assert seen == {"out_dir": tmp_path, "n": 7, "seed": 3, "jobs": 1}
    assert "7 videos" in out.getvalue()
