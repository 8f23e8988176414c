"""Demo corpus plan: every video's title, text, tags, scenes and narration from ``(n, seed)``.

Pure and media-free, so the ground-truth CSV and the per-video specs are identical for a seed
and cheap to test; ``scripts/demo/render.py`` turns one :class:`VideoSpec` into files.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import string
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from core.dataset import TAG_SEPARATOR
from core.errors import TaggerError
from scripts.demo.topics import (
    DESCRIPTION_OUTROS,
    NARRATION_INTROS,
    NARRATION_OUTROS,
    TITLE_TEMPLATES,
    TOPICS,
    VOICES,
    SceneSpec,
    Topic,
)

MIN_SECONDS, MAX_SECONDS = 5.0, 20.0
_ID_ALPHABET = string.ascii_letters + string.digits

AudioMode = Literal["narrated", "ambience", "silent", "captioned", "embedded_subs"]
BrokenKind = Literal["empty", "truncated", "not_video"]
SPOKEN_MODES: frozenset[str] = frozenset({"narrated", "captioned", "embedded_subs"})


class DemoCorpusError(TaggerError, RuntimeError):
    """The corpus cannot be generated (missing tool or clip, bad arguments)."""


@dataclass(frozen=True)
class Shot:
    """A stretch of a video showing one scene (``kind`` "card"/"endcard" are text cards)."""

    kind: str
    variant: str
    palette: tuple[tuple[int, int, int], ...]
    words: tuple[str, ...]
    start_s: float
    end_s: float
    seed: int
    pan: tuple[int, int]


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video and its ground-truth row."""

    video_id: str
    topic: str
    title: str
    description: str
    tags: tuple[str, ...]
    duration_s: float
    fps: int
    width: int
    height: int
    rotation: int | None
    shots: tuple[Shot, ...]
    narration: tuple[str, ...]
    audio: AudioMode
    ambience: str
    voice: str
    words_per_minute: int
    broken: BrokenKind | None
    seed: int

    @property
    def has_audio_track(self) -> bool:
        return self.audio in ("narrated", "ambience", "embedded_subs")


# ---- planning -----------------------------------------------------------------------------------


def plan_corpus(n_videos: int = 120, seed: int = 0) -> list[VideoSpec]:
    """The specs of a corpus: topics spread round-robin, special cases placed by ``seed``."""
    if n_videos < 1:
        raise DemoCorpusError(f"n_videos must be >= 1, got {n_videos}")
    rng = random.Random(f"demo-corpus:{seed}")
    topics: list[Topic] = []
    while len(topics) < n_videos:
        block = list(TOPICS)
        rng.shuffle(block)
        topics.extend(block)
    order = list(range(n_videos))
    rng.shuffle(order)
    special = _special_cases(order, n_videos)
    ids = _video_ids(rng, n_videos)
    return [
        _plan_video(ids[i], topics[i], special.get(i, {}), random.Random(f"{seed}:{i}"))
        for i in range(n_videos)
    ]


def _special_cases(order: list[int], n: int) -> dict[int, dict]:
    """Disjoint slices of a shuffled index list get the edge cases the pipeline must handle."""
    counts: list[tuple[dict, int]] = [
        ({"broken": "empty"}, 1 if n >= 8 else 0),
        ({"broken": "truncated"}, 1 if n >= 8 else 0),
        ({"broken": "not_video"}, 1 if n >= 8 else 0),
        ({"audio": "captioned"}, max(1, n // 30) if n >= 4 else 0),
        ({"audio": "silent"}, max(1, n // 20) if n >= 4 else 0),
        ({"audio": "embedded_subs"}, n // 60),
        ({"audio": "ambience"}, n // 12),
        ({"rotation": 90}, n // 50),
    ]
    special: dict[int, dict] = {}
    cursor = 0
    for case, count in counts:
        for index in order[cursor : cursor + count]:
            special[index] = case
        cursor += count
    for index in order[cursor : cursor + n // 8]:
        special[index] = {"no_description": True}
    return special


def _video_ids(rng: random.Random, n: int) -> list[str]:
    """Platform-style 11-character ids (letters and digits only: safe as file names)."""
    ids: dict[str, None] = {}
    while len(ids) < n:
        ids["".join(rng.choice(_ID_ALPHABET) for _ in range(11))] = None
    return list(ids)


def _plan_video(video_id: str, topic: Topic, case: dict, rng: random.Random) -> VideoSpec:
    subject = rng.choice(topic.subjects)
    rotation = case.get("rotation")
    width, height = rng.choice(((320, 180), (320, 180), (426, 240)))
    if rotation:
        width, height = 180, 320
    duration = round(rng.uniform(MIN_SECONDS + 1.0, MAX_SECONDS - 1.0), 1)
    title = _title(subject, rng)
    wpm = rng.choice((140, 150, 160, 170))
    return VideoSpec(
        video_id=video_id,
        topic=topic.key,
        title=title,
        description="" if case.get("no_description") else _description(topic, rng),
        tags=topic.tags,
        duration_s=duration,
        fps=rng.choice((12, 12, 15)),
        width=width,
        height=height,
        rotation=rotation,
        shots=_shots(topic, title, duration, rng),
        narration=_narration(topic, subject, duration, wpm, rng),
        audio=case.get("audio", "narrated"),
        ambience=topic.ambience,
        voice=rng.choice(VOICES),
        words_per_minute=wpm,
        broken=case.get("broken"),
        seed=rng.getrandbits(32),
    )


def _title(subject: str, rng: random.Random) -> str:
    template = rng.choice(TITLE_TEMPLATES)
    return template.format(
        subject=subject,
        Subject=subject[0].upper() + subject[1:],
        SUBJECT=subject.upper(),
        n=rng.randint(2, 140),
    )


def _description(topic: Topic, rng: random.Random) -> str:
    lines = [rng.choice(topic.descriptions)]
    if rng.random() < 0.4:
        lines.append(rng.choice(topic.sentences))
    if rng.random() < 0.6:
        lines.append(" ".join(rng.sample(topic.hashtags, k=rng.randint(1, len(topic.hashtags)))))
    if rng.random() < 0.5:
        lines.append(rng.choice(DESCRIPTION_OUTROS))
    return "\n".join(lines)


def _narration(
    topic: Topic, subject: str, duration: float, wpm: int, rng: random.Random
) -> tuple[str, ...]:
    """Topic sentences, sometimes framed by an intro and an outro, filling about ``duration``."""
    budget = (duration - 1.0) * wpm / 60 * 0.9
    body = list(topic.sentences)
    rng.shuffle(body)
    first = body.pop()
    budget -= len(first.split())
    frame: dict[str, str] = {}
    for name, options in (("intro", NARRATION_INTROS), ("outro", NARRATION_OUTROS)):
        line = rng.choice(options).format(subject=subject)
        if rng.random() < 0.4 and len(line.split()) <= budget:
            frame[name] = line
            budget -= len(line.split())
    middle = [first]
    for sentence in body:
        if len(sentence.split()) <= budget:
            middle.append(sentence)
            budget -= len(sentence.split())
    return tuple(filter(None, (frame.get("intro"), *middle, frame.get("outro"))))


def _shots(topic: Topic, title: str, duration: float, rng: random.Random) -> tuple[Shot, ...]:
    """An optional title card, 1-3 topic scenes and sometimes an end card, covering ``duration``."""
    cuts: list[tuple[SceneSpec, float]] = []
    remaining = duration
    if rng.random() < 0.6:
        length = round(rng.uniform(1.5, 2.5), 2)
        cuts.append((SceneSpec("card", "", (), (title, topic.channel)), length))
        remaining -= length
    end_card = rng.random() < 0.25 and remaining > 6
    if end_card:
        remaining -= 1.5
    n_scenes = max(1, min(rng.randint(1, 3), int(remaining // 2.5)))
    weights = [rng.uniform(0.6, 1.4) for _ in range(n_scenes)]
    scenes = list(topic.scenes) * n_scenes
    rng.shuffle(scenes)
    for scene, weight in zip(scenes, weights):
        cuts.append((scene, remaining * weight / sum(weights)))
    if end_card:
        cuts.append((SceneSpec("endcard", "", (), (topic.channel,)), 1.5))
    shots: list[Shot] = []
    start = 0.0
    for index, (scene, length) in enumerate(cuts):
        end = duration if index == len(cuts) - 1 else round(start + length, 3)
        pan = (rng.choice((-1, 0, 1)), rng.choice((-1, 0, 1)))
        shots.append(
            Shot(
                scene.kind,
                scene.variant,
                scene.palette,
                scene.words,
                start,
                end,
                rng.getrandbits(32),
                pan,
            )
        )
        start = end
    return tuple(shots)


# ---- ground truth -------------------------------------------------------------------------------


def write_ground_truth(specs: list[VideoSpec], path: Path) -> Path:
    """The import CSV: ``video_id,title,description,tags`` with tags joined by ``TAG_SEPARATOR``."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(("video_id", "title", "description", "tags"))
        for spec in specs:
            writer.writerow(
                (spec.video_id, spec.title, spec.description, TAG_SEPARATOR.join(spec.tags))
            )
    return path


def spec_digest(specs: list[VideoSpec]) -> str:
    """SHA-256 of the specs: equal digests mean an identical corpus plan."""
    payload = json.dumps([asdict(spec) for spec in specs], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
