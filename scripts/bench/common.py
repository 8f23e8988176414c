"""What every section of the benchmark suite (scripts/bench/suite.py) shares: input sizes, the row
of the result table, unit formatting, timing, fresh settings/databases per measurement, and a
module as committed at another git revision (for before/after comparisons in one run)."""

from __future__ import annotations

import importlib.util
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from core.config import Settings
from db.engine import Database, get_database, init_db

REPO = Path(__file__).resolve().parents[2]


def module_at(revision: str, path: str, name: str) -> ModuleType:
    """The repository file ``path`` as committed at ``revision``, loaded as module ``name`` beside
    the working tree's; its own imports resolve to the working tree."""
    try:
        source = subprocess.run(
            ["git", "show", f"{revision}:{path}"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"cannot read {path} at {revision!r}: {e.stderr.strip()}") from e
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as folder:
        file = Path(folder) / f"{name}.py"
        file.write_text(source, encoding="utf-8")
        spec = importlib.util.spec_from_file_location(name, file)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Sizes:
    clip_seconds: float
    whisper_seconds: float
    ingest_videos: int
    retrain_videos: tuple[int, ...]
    queue_videos: tuple[int, ...]
    repeat: int
    retrain_budget_s: float


FULL = Sizes(
    clip_seconds=60.0,
    whisper_seconds=60.0,
    ingest_videos=24,
    retrain_videos=(1_000, 10_000),
    queue_videos=(10_000, 100_000, 1_000_000),
    repeat=3,
    retrain_budget_s=120.0,
)
QUICK = Sizes(
    clip_seconds=10.0,
    whisper_seconds=10.0,
    ingest_videos=4,
    retrain_videos=(100, 300),
    queue_videos=(1_000, 10_000),
    repeat=1,
    retrain_budget_s=60.0,
)


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


# A section measures with these sizes in its own folder of the run, from the configured settings.
Section = Callable[[Sizes, Path, Settings], list[Row]]


def children_cpu_s() -> float:
    """CPU seconds of this process's waited-for children (e.g. ``tesseract``, ``tagger``)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def format_seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.2f} s"


def format_mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MiB"


def mem_total_gib() -> float:
    """The machine's RAM, from /proc/meminfo."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    raise OSError("/proc/meminfo has no MemTotal")


def best_of(run: Callable[[], object], repeat: int) -> float:
    """The fastest of ``repeat`` (at least one) wall-clock timings of ``run()``, in seconds."""
    times = []
    for _ in range(max(1, repeat)):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


Timing = tuple[float, float]  # median (wall, CPU) seconds
Key = TypeVar("Key", bound=Hashable)


def median_times(runs: dict[Key, Callable[[], object]], repeat: int) -> dict[Key, Timing]:
    """Median wall and CPU seconds (this process, all its threads) of each run, called
    ``repeat`` times (at least once) in turn, after one untimed warm-up call each (file cache,
    lazy imports); round-robin, so that load from other processes hits all runs alike."""
    for run in runs.values():
        run()
    walls: dict[str, list[float]] = {name: [] for name in runs}
    cpus: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(max(1, repeat)):
        for name, run in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return {name: (statistics.median(walls[name]), statistics.median(cpus[name])) for name in runs}


def fresh_settings(base: Settings, data_dir: Path) -> Settings:
    """The configured settings with their own data dir and embedded database (folders created)."""
    settings = base.model_copy(update={"data_dir": data_dir, "database_url": None})
    settings.ensure_dirs()
    return settings


def open_database(settings: Settings, *, taxonomy: bool = True) -> Database:
    """The settings' database with its schema and, unless ``taxonomy=False``, IAB 3.0 loaded."""
    from core import taxonomy as taxonomy_lib
    from db.queries import taxonomy as taxonomy_q

    db = get_database(settings)
    init_db(db)
    if taxonomy:
        with db.session() as session:
            if taxonomy_q.count_nodes(session) == 0:
                taxonomy_lib.save_to_db(session, taxonomy_lib.load_iab3())
    return db


@contextmanager
def run_folder(work_dir: Path | None, name: str) -> Iterator[Path]:
    """``work_dir/NAME-TIMESTAMP`` (kept), or the same in a temporary folder removed at the end;
    :func:`demo_corpus_videos` keeps its corpora beside it."""
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        work = (work_dir or Path(tmp)) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        work.mkdir(parents=True)
        yield work


def demo_corpus_videos(work: Path, n_videos: int) -> Path:
    """Demo-corpus videos; returns the videos folder. Rendering is not measured, so corpora are
    kept beside the run folders and reused by later runs on the same ``--work-dir``."""
    from scripts.demo.corpus import VIDEOS_DIR, generate_corpus

    out = work.parent / f"corpus-{n_videos}"
    generate_corpus(out, n_videos, 0)
    return out / VIDEOS_DIR
