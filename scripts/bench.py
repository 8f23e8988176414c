"""The product's benchmark suite: ONE markdown table, every figure measured in this run, side by side.

Each row says what was measured, what it is compared against (measured in the same run, never a
remembered figure) and the goal. Sections:

- ``keyframes``: keyframe sampling vs decoding every frame of a 1-minute 720p h264 clip;
- ``whisper``: faster-whisper vs openai-whisper, same audio, same size (needs
  TAGGER_OPENAI_WHISPER_CHECKPOINT for the latter; otherwise the row says "not measured");
- ``ingest``: seconds of video per wall second, cold and cached, lite encoders, demo-corpus videos;
- ``retrain``: "click" (``train_model``) to a new active version on synthetic cached embeddings;
- ``queue``: the queue page's queries on 10k / 100k / 1M videos (scripts.bench_dashboard);
- ``memory``: peak RSS of the dashboard rendering the queue page, and of ``tagger ingest``.

    .venv/bin/python scripts/bench.py                     # everything (< 15 min on 2 cores)
    .venv/bin/python scripts/bench.py --quick --only ingest,retrain --out bench.md
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import numpy as np

from core.config import Settings, get_settings
from db.engine import Database, get_database, init_db

logger = logging.getLogger("bench")

SECTIONS = ("keyframes", "whisper", "ingest", "retrain", "queue", "memory")
# Dims the lite encoder reports with the bundled models (MiniLM 384, 2 x tiny.en width 384).
TEXT_DIM, AUDIO_DIM = 384, 768
SYNTHETIC_TAGS = 24
REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Sizes:
    clip_seconds: float
    whisper_seconds: float
    ingest_videos: int
    retrain_videos: tuple[int, ...]
    queue_videos: tuple[int, ...]
    repeat: int
    retrain_budget_s: float


FULL = Sizes(clip_seconds=60.0, whisper_seconds=60.0, ingest_videos=24, retrain_videos=(1_000, 10_000),
             queue_videos=(10_000, 100_000, 1_000_000), repeat=3, retrain_budget_s=120.0)
QUICK = Sizes(clip_seconds=10.0, whisper_seconds=10.0, ingest_videos=4, retrain_videos=(100, 300),
              queue_videos=(1_000, 10_000), repeat=1, retrain_budget_s=60.0)


@dataclass(frozen=True)
class Row:
    """One figure: ``value`` measured, ``baseline`` what it is compared against, ``met`` vs goal."""

    section: str
    measure: str
    value: str
    baseline: str = "-"
    ratio: str = "-"
    goal: str = "-"
    met: bool | None = None


@dataclass(frozen=True)
class Options:
    sections: tuple[str, ...]
    quick: bool
    out: Path | None
    work_dir: Path | None

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else FULL


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(SECTIONS),
                        help=f"comma-separated sections (default all): {','.join(SECTIONS)}")
    parser.add_argument("--quick", action="store_true", help="CI-sized inputs (minutes, not a quarter hour)")
    parser.add_argument("--out", type=Path, help="also write the table (markdown) to this file")
    parser.add_argument("--work-dir", type=Path,
                        help="keep each run's databases (run-<time>/) and the reusable demo corpora here "
                             "(default: a temp dir, removed afterwards)")
    args = parser.parse_args(argv)
    sections = tuple(s.strip() for s in args.only.split(",") if s.strip())
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        parser.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    # always in SECTIONS order: memory reuses the database the queue section populated
    ordered = tuple(s for s in SECTIONS if s in sections)
    return Options(sections=ordered, quick=args.quick, out=args.out, work_dir=args.work_dir)


# --- table --------------------------------------------------------------------------------------


def machine() -> str:
    """CPU model and core count, as `lscpu` reports them."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError) as e:
        logger.warning("lscpu failed (%s); using platform.processor()", e)
    return f"{model}, {os.cpu_count()} cores, {_mem_total_gib():.0f} GiB RAM, Python {platform.python_version()}"


def format_table(rows: Sequence[Row], *, command: str, machine_line: str) -> str:
    """The markdown table with a header naming the command, the machine and the date."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    verdict = {True: "yes", False: "**no**", None: "-"}
    lines = [
        f"Benchmark run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: `{command}`",
        f"Machine: {machine_line}",
        "",
        "| section | measured | value | compared against | ratio | goal | met |",
        "|---|---|---:|---|---:|---|---|",
    ]
    lines += [
        "| " + " | ".join(cell(c) for c in (r.section, r.measure, r.value, r.baseline, r.ratio, r.goal,
                                             verdict[r.met])) + " |"
        for r in rows
    ]
    return "\n".join(lines) + "\n"


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def _mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def _mem_total_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    raise OSError("/proc/meminfo has no MemTotal")


def _best(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def _settings(base: Settings, data_dir: Path) -> Settings:
    """The configured settings with their own data dir and embedded database."""
    settings = base.model_copy(update={"data_dir": data_dir, "database_url": None})
    settings.ensure_dirs()
    return settings


def _database(settings: Settings, *, taxonomy: bool = True) -> Database:
    from core import taxonomy as taxonomy_lib
    from db.queries import taxonomy as taxonomy_q

    db = get_database(settings)
    init_db(db)
    if taxonomy:
        with db.session() as session:
            if taxonomy_q.count_nodes(session) == 0:
                taxonomy_lib.save_to_db(session, taxonomy_lib.load_iab3())
    return db


def _corpus(work: Path, n_videos: int) -> Path:
    """Demo-corpus videos; returns the videos folder. Rendering is not measured, so corpora are
    kept beside the run folders and reused by later runs on the same ``--work-dir``."""
    from scripts.demo_corpus import VIDEOS_DIR, generate_corpus

    out = work.parent / f"corpus-{n_videos}"
    generate_corpus(out, n_videos, 0)
    return out / VIDEOS_DIR


# --- sections -----------------------------------------------------------------------------------


def bench_keyframes(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Keyframe sampling vs decoding every frame, on generated 720p h264 clips (two GOP sizes)."""
    from core.media import probe, sample_keyframes
    from scripts.bench_media import SPEECH, _decode_all, _generate
    from scripts.mediagen import read_wav, speak_to_wav

    n = base.num_keyframes
    speech = read_wav(speak_to_wav(SPEECH, work / "speech.wav"))
    rows = []
    for gop in (48, 250):
        clip = _generate(work / f"clip-gop{gop}.mp4", gop, sizes.clip_seconds, speech)
        info = probe(clip)
        sampled = _best(partial(sample_keyframes, clip, n, info), sizes.repeat)
        decoded = _best(partial(_decode_all, clip, n, info.duration_s), sizes.repeat)
        ratio = decoded / sampled
        rows.append(Row(
            "keyframes", f"sample {n} keyframes, {info.duration_s:.0f} s {info.width}x{info.height} h264 GOP {gop}",
            _seconds(sampled), f"decode every frame: {_seconds(decoded)}", f"{ratio:.1f}x faster", ">= 10x",
            ratio >= 10,
        ))
    return rows


def bench_whisper(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """faster-whisper vs openai-whisper (tiny.en) on the same speech."""
    from core.transcribe import FasterWhisperTranscriber, OpenAIWhisperTranscriber
    from scripts.bench_media import SPEECH
    from scripts.mediagen import read_wav, speak_to_wav

    speech = read_wav(speak_to_wav(SPEECH, work / "speech.wav"))
    audio = np.resize(speech, int(sizes.whisper_seconds * 16_000)).astype(np.float32)
    faster = FasterWhisperTranscriber()
    faster_s = _best(lambda: faster.transcribe(audio), sizes.repeat)
    measure = f"faster-whisper tiny.en, {sizes.whisper_seconds:.0f} s of speech"
    value = f"{_seconds(faster_s)} (RTF {faster_s / sizes.whisper_seconds:.3f})"
    checkpoint = base.openai_whisper_checkpoint
    if not checkpoint:
        return [Row("whisper", measure, value, "openai-whisper: not measured: no checkpoint "
                    "(set TAGGER_OPENAI_WHISPER_CHECKPOINT)", "-", "faster than openai-whisper", None)]
    reference = OpenAIWhisperTranscriber(checkpoint, device=base.device)
    reference_s = _best(lambda: reference.transcribe(audio), sizes.repeat)
    ratio = reference_s / faster_s
    return [Row("whisper", measure, value, f"openai-whisper {Path(checkpoint).name}: {_seconds(reference_s)}",
                f"{ratio:.1f}x faster", "faster than openai-whisper", ratio > 1)]


def bench_ingest(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Seconds of video per wall second: a cold ingest, then the same files again (cached)."""
    from core.encoders import load_encoder
    from core.ingest import DUPLICATE, ingest_paths
    from core.transcribe import load_transcriber
    from db.models import VideoStatus

    videos = _corpus(work, sizes.ingest_videos)
    settings = _settings(base, Path(tempfile.mkdtemp(prefix="ingest-", dir=work)))  # cold: a fresh data dir
    db = _database(settings, taxonomy=False)
    started = time.perf_counter()
    encoder, transcriber = load_encoder(settings), load_transcriber(settings)
    load_s = time.perf_counter() - started
    cold = ingest_paths(db, [videos], settings=settings, encoder=encoder, transcriber=transcriber)
    warm = ingest_paths(db, [videos], settings=settings, encoder=encoder, transcriber=transcriber)
    cold_video = cold.video_seconds
    warm_video = sum(r.duration_s or 0.0 for r in warm.results if r.status in (DUPLICATE, VideoStatus.READY))
    cold_rate, warm_rate = cold_video / cold.wall_seconds, warm_video / warm.wall_seconds
    failed = len(cold.failed)
    note = f"{len(cold.results)} demo videos ({failed} broken on purpose), models loaded beforehand in {load_s:.0f} s"
    return [
        Row("ingest", f"cold ingest, {note}", f"{cold_rate:.1f} s video/s ({cold_video:.0f} s in "
            f"{cold.wall_seconds:.1f} s)", "real time (1 s video/s)", f"{cold_rate:.1f}x", ">= 10 s video/s",
            cold_rate >= 10),
        Row("ingest", "second ingest of the same files (content-hash cache)", f"{warm_rate:.0f} s video/s "
            f"({warm_video:.0f} s in {warm.wall_seconds:.2f} s)", f"cold: {cold_rate:.1f} s video/s",
            f"{warm_rate / cold_rate:.0f}x", ">= 10 s video/s", warm_rate >= 10),
    ]


def bench_retrain(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """The dashboard's "retrain" click: ``start_job("train", activate)`` until a new version is active.

    Synthetic vectors stand in for cached embeddings (keyed like the configured encoder's, as the
    job trains on those). A run past ``sizes.retrain_budget_s`` is stopped and reported as such
    with its speed per epoch, which still gives the growth between sizes.
    """
    from core.encoders import load_encoder

    encoder_key = load_encoder(base).cache_key
    runs = []
    for n in sizes.retrain_videos:
        settings = _settings(base, Path(tempfile.mkdtemp(prefix=f"retrain-{n}-", dir=work)))
        db = _database(settings)
        _synthetic_training_set(db, n, work, encoder_key)
        runs.append((n, _retrain_click(db, settings, sizes.retrain_budget_s)))
    rows = []
    (n0, first), budget = runs[0], sizes.retrain_budget_s
    for n, run in runs:
        value = _seconds(run.seconds) if run.finished else f"> {budget:.0f} s (stopped: {run.message})"
        value += f", {run.epoch_s:.1f} s/epoch" if run.epoch_s else ""
        value += f", first epoch done at {run.first_epoch_s:.0f} s" if run.first_epoch_s else ""
        growth = "-"
        if n != n0 and run.finished and first.finished:
            growth = f"{run.seconds / first.seconds:.1f}x for {n / n0:.0f}x data"
        elif n != n0 and run.epoch_s and first.epoch_s:
            growth = f"{run.epoch_s / first.epoch_s:.1f}x per epoch for {n / n0:.0f}x data"
        at_goal = n >= 10_000
        met = (run.finished and run.seconds < 60) if at_goal else None
        rows.append(Row(
            "retrain", f"click (start_job) to new active model, {n:,} labelled videos, cached embeddings",
            value, f"{n0:,} videos: {_seconds(first.seconds) if first.finished else f'> {budget:.0f} s'}"
            if n != n0 else "-", growth, "< 60 s at 10,000" if at_goal else "-",
            False if at_goal and not run.finished and budget >= 60 else met,
        ))
    return rows


@dataclass(frozen=True)
class _Retrain:
    finished: bool
    seconds: float
    message: str
    epoch_s: float | None  # wall seconds per training epoch, from the job's live history
    first_epoch_s: float | None  # click to the first epoch reported (worker start, loading)


def _retrain_click(db: Database, settings: Settings, budget_s: float) -> _Retrain:
    """Start a train job and poll it like the dashboard does; stop its worker past the budget."""
    from core import jobs
    from db.queries import models as models_q

    started = time.perf_counter()
    job_id = jobs.start_job(db, kind="train", params={"activate": True}, user=None, settings=settings)
    seen: list[tuple[float, int]] = []  # (time, epochs reported so far)
    while True:
        time.sleep(0.5)
        info = jobs.get_job(db, job_id)
        elapsed = time.perf_counter() - started
        epochs = len(info.metrics.get("history", []))
        if epochs and (not seen or seen[-1][1] != epochs):
            seen.append((elapsed, epochs))
        epoch_s = (seen[-1][0] - seen[0][0]) / (seen[-1][1] - seen[0][1]) if len(seen) > 1 else None
        if info.finished:
            break
        if elapsed > budget_s:
            os.kill(info.pid, signal.SIGTERM)
            os.waitpid(info.pid, 0)  # the worker is our child: reap it
            return _Retrain(False, elapsed, info.message or info.status, epoch_s, seen[0][0] if seen else None)
    if info.status != "succeeded":
        raise RuntimeError(f"train job {job_id} {info.status}: {info.message}")
    with db.session() as session:
        active = models_q.get_active_model(session)
    if active is None or active.id != info.result.get("model_version_id"):
        raise RuntimeError(f"train job {job_id} finished but its version is not active: {info.result}")
    return _Retrain(True, elapsed, "done", epoch_s, seen[0][0] if seen else None)


def _synthetic_training_set(db: Database, n: int, work: Path, encoder_key: tuple[str, str]) -> None:
    """``n`` imported videos with 1-2 tags and one vector per modality that carries the tags' signal."""
    from core import dataset
    from core.encoders.visual import DESCRIPTOR_DIM
    from core.taxonomy import load_from_db
    from db.queries import embeddings as embeddings_q
    from db.queries import videos as videos_q

    rng = np.random.default_rng(n)
    with db.session() as session:
        taxonomy = load_from_db(session)
    candidates = [node for node in taxonomy.nodes if node.level == 2]
    tags = [candidates[i] for i in rng.choice(len(candidates), SYNTHETIC_TAGS, replace=False)]
    picks = [rng.choice(SYNTHETIC_TAGS, size=rng.integers(1, 3), replace=False) for _ in range(n)]
    path = work / f"synthetic-{n}.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(dataset.REQUIRED_COLUMNS)
        for i, pick in enumerate(picks):
            writer.writerow([f"syn{i:07d}", f"synthetic video {i}", "", ", ".join(tags[t].path for t in pick)])
    dataset.import_dataset(db, path)
    with db.session() as session:
        ids = videos_q.find_videos_by_external_ids(session, external_ids=[f"syn{i:07d}" for i in range(n)])
    dims = {"title": TEXT_DIM, "description": TEXT_DIM, "subtitles": TEXT_DIM, "frames": DESCRIPTOR_DIM,
            "audio": AUDIO_DIM}
    prototypes = {m: rng.standard_normal((SYNTHETIC_TAGS, d)).astype(np.float32) for m, d in dims.items()}
    encoder_id, version = encoder_key
    records = []
    for i, pick in enumerate(picks):
        video_id = ids[f"syn{i:07d}"].id
        for modality, dim in dims.items():
            if modality in ("description", "subtitles") and rng.random() < 0.3:
                continue  # missing modalities, as in real data
            vector = prototypes[modality][pick].sum(axis=0) + 2.0 * rng.standard_normal(dim).astype(np.float32)
            records.append(embeddings_q.EmbeddingRecord(
                video_id=video_id, modality=modality, encoder_id=encoder_id, encoder_version=version,
                input_hash=f"{i}:{modality}", vector=vector / np.linalg.norm(vector),
            ))
        if len(records) >= 5_000 or i == n - 1:
            with db.session() as session:
                embeddings_q.put_embeddings(session, records=records)
            records = []


def bench_queue(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """The queue query (count + first page of 50, least certain first) on growing databases.

    Population and timing are scripts.bench_dashboard's (bulk-loaded predicted videos; median of
    several full units of work after a warm-up).
    """
    from scripts import bench_dashboard

    timings = {}
    for n in sizes.queue_videos:
        data_dir = _queue_data_dir(work, base, n)
        timings[n] = bench_dashboard._measure(data_dir, n, pages=False)
    n0, biggest = sizes.queue_videos[0], sizes.queue_videos[-1]
    first = timings[n0]["queue query"] / 1000
    rows = []
    for n, measured in timings.items():
        seconds = measured["queue query"] / 1000
        at_goal = n >= 1_000_000
        rows.append(Row(
            "queue", f"queue query (count + first page of 50, least certain first), {n:,} videos",
            _seconds(seconds), f"{n0:,} videos: {_seconds(first)}" if n != n0 else "-",
            f"{seconds / first:.1f}x for {n / n0:.0f}x videos" if n != n0 else "-",
            "< 200 ms at 1,000,000" if at_goal else "-", seconds < 0.2 if at_goal else None,
        ))
    filtered = timings[biggest]["queue + search + tag"] / 1000
    plain = timings[biggest]["queue query"] / 1000
    rows.append(Row(
        "queue", f"queue query with a title search and a tag filter (Sports subtree), {biggest:,} videos",
        _seconds(filtered), f"unfiltered: {_seconds(plain)}", f"{filtered / plain:.1f}x",
        "< 200 ms at 1,000,000" if biggest >= 1_000_000 else "-", filtered < 0.2 if biggest >= 1_000_000 else None,
    ))
    return rows


def _queue_data_dir(work: Path, base: Settings, n: int) -> Path:
    """A data dir with ``n`` predicted videos (scripts.bench_dashboard's population), built once."""
    from db.queries import videos as videos_q
    from scripts import bench_dashboard

    data_dir = work / f"queue-{n}"
    if (data_dir / "tagger.duckdb").is_file():
        with get_database(_settings(base, data_dir)).session() as session:
            if videos_q.count_videos(session) == n:
                return data_dir
        raise RuntimeError(f"{data_dir} holds a different database")
    bench_dashboard._populate(data_dir, n)
    return data_dir


# Children report their own VmHWM at exit: ru_maxrss from wait4 would include the parent's
# memory (Linux carries the pre-exec high-water mark of the forked parent image into the child).
_PEAK_PRELUDE = textwrap.dedent("""
    import atexit, sys
    _peak_file = sys.argv.pop(1)
    def _write_peak():
        with open("/proc/self/status") as status, open(_peak_file, "w") as out:
            out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
    atexit.register(_write_peak)
""")
_TAGGER = "from scripts.cli import app\napp(prog_name='tagger')\n"
_APPTEST = textwrap.dedent("""
    from streamlit.testing.v1 import AppTest
    from dashboard import state
    at = AppTest.from_file(sys.argv[1], default_timeout=300)
    at.session_state[state.TOKEN] = sys.stdin.readline().strip()
    at.run()
    if at.exception:
        raise SystemExit(f"the dashboard raised: {at.exception[0].message}")
    titles = [t.value for t in at.title]
    if not any("queue" in t.lower() for t in titles):
        raise SystemExit(f"the queue page did not render; titles: {titles}")
""")


def bench_memory(sizes: Sizes, work: Path, base: Settings) -> list[Row]:
    """Peak RSS (the process's own VmHWM) of the dashboard rendering the queue page, and of `tagger ingest`."""
    from core import auth
    from scripts import bench_dashboard

    n = sizes.queue_videos[-1]
    settings = _settings(base, _queue_data_dir(work, base, n))
    db = get_database(settings)
    token = auth.authenticate(db, "mod", bench_dashboard.PASSWORD, settings=settings).token
    dashboard_kib, _ = _peak_rss(_APPTEST, [str(REPO / "dashboard" / "app.py")], settings, work,
                                 stdin=token + "\n")

    videos = _corpus(work, sizes.ingest_videos)
    ingest_settings = _settings(base, Path(tempfile.mkdtemp(prefix="memory-ingest-", dir=work)))  # cold
    ingest_kib, output = _peak_rss(_TAGGER, ["ingest", str(videos)], ingest_settings, work, ok_codes=(0, 1))
    if "of video" not in output:
        raise RuntimeError(f"`tagger ingest` did not finish its batch:\n{output[-2000:]}")
    total_kib = _mem_total_gib() * 2**20
    return [
        Row("memory", f"dashboard peak RSS: queue page rendered for a moderator (AppTest process), {n:,} videos",
            _mib(dashboard_kib), f"machine RAM {total_kib / 2**20:.0f} GiB", f"{dashboard_kib / total_kib:.1%}",
            "< 1 GiB", dashboard_kib < 2**20),
        Row("memory", f"`tagger ingest` peak RSS, {sizes.ingest_videos} demo videos (cold)", _mib(ingest_kib),
            f"dashboard: {_mib(dashboard_kib)}", f"{ingest_kib / dashboard_kib:.1f}x", "< 2 GiB",
            ingest_kib < 2 * 2**20),
    ]


def _peak_rss(code: str, args: list[str], settings: Settings, work: Path, *, stdin: str = "",
              ok_codes: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Run Python ``code`` in a child using these settings' data dir; its peak RSS (KiB) and output."""
    env = {**os.environ, "TAGGER_DATA_DIR": str(settings.data_dir), "HF_HUB_OFFLINE": "1"}
    env.pop("TAGGER_DATABASE_URL", None)
    peak_file = work / f"peak-{time.monotonic_ns()}.txt"
    command = [sys.executable, "-c", _PEAK_PRELUDE + code, str(peak_file), *args]
    result = subprocess.run(command, cwd=REPO, env=env, input=stdin, capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    if result.returncode not in ok_codes:
        raise RuntimeError(f"child exited {result.returncode}:\n{output[-2000:]}")
    return int(peak_file.read_text()), output


BENCHES: dict[str, Callable[[Sizes, Path, Settings], list[Row]]] = {
    "keyframes": bench_keyframes, "whisper": bench_whisper, "ingest": bench_ingest,
    "retrain": bench_retrain, "queue": bench_queue, "memory": bench_memory,
}


def run(options: Options, *, progress: Callable[[str], None] = print) -> list[Row]:
    """Every selected section in order; a section that fails gets one row saying why (traceback logged)."""
    base = get_settings()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="tagger-bench-") as tmp:
        # every run measures on fresh databases: a folder of its own inside the work dir
        work = (options.work_dir or Path(tmp)) / f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}"
        work.mkdir(parents=True)
        for section in options.sections:
            started = time.perf_counter()
            progress(f"[bench] {section} ...")
            try:
                produced = BENCHES[section](options.sizes, work, base)
            except Exception as e:  # one broken section must not hide the others' figures
                logger.exception("section %s failed", section)
                produced = [Row(section, "not measured", f"failed: {type(e).__name__}: {e}"[:200])]
            rows.extend(produced)
            progress(f"[bench] {section} done in {time.perf_counter() - started:.0f} s")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    options = parse_args(argv)
    command = " ".join(["scripts/bench.py", *(sys.argv[1:] if argv is None else argv)])
    rows = run(options, progress=lambda line: print(line, file=sys.stderr, flush=True))
    table = format_table(rows, command=command, machine_line=machine())
    print(table)
    if options.out is not None:
        options.out.write_text(table, encoding="utf-8")
    return 1 if any(r.measure == "not measured" for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
