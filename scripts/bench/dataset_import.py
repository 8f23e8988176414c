"""Benchmark: importing a dataset file (``tagger import``), working tree beside a git revision's
``core/dataset.py`` and ``db/queries/labels.py``, alternating in one process, each run into a
fresh DuckDB file.

Prints per version the whole import's wall time and the longest and median time one batch held
the database (the DuckDB lock: what a moderator's save waits for behind an import), and the
ratios:

    python -m scripts.bench.dataset_import --baseline 511b4bd --rows 3000 --repeat 3
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from core import dataset
from core.taxonomy import from_paths, save_to_db
from db.engine import Database, init_db
from scripts.bench.common import module_at

TAGS = [["Sports", "Soccer"], ["Sports", "Golf"], ["News"]]


def write_dataset(path: Path, rows: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "title", "description", "tags"])
        for i in range(rows):
            writer.writerow([f"imp-{i}", f"title {i}", "a description", "Sports: Soccer, News"])


def timed_import(import_dataset: Callable, file: Path, folder: Path) -> tuple[float, list[float]]:
    """Seconds of the whole import into a fresh database, and how long each session held it."""
    db = Database(f"duckdb:///{folder / 'bench.duckdb'}")
    init_db(db)
    with db.session() as session:
        save_to_db(session, from_paths(TAGS))
    holds: list[float] = []
    opened = db.session

    @contextmanager
    def timed_session() -> Iterator:
        started = time.perf_counter()
        with opened() as session:
            yield session
        holds.append(time.perf_counter() - started)

    db.session = timed_session
    started = time.perf_counter()
    import_dataset(db, file)
    return time.perf_counter() - started, holds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--rows", type=int, default=3000, help="dataset rows (videos)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per version, alternating")
    args = parser.parse_args(argv)
    baseline = module_at(args.baseline, "core/dataset.py", "baseline_dataset")
    baseline.label_queries = module_at(args.baseline, "db/queries/labels.py", "baseline_labels")
    versions = {args.baseline: baseline.import_dataset, "working tree": dataset.import_dataset}
    totals: dict[str, list[float]] = {name: [] for name in versions}
    holds: dict[str, list[float]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        file = Path(tmp) / "dataset.csv"
        write_dataset(file, args.rows)
        for run in range(args.repeat):
            for name, import_dataset in versions.items():
                folder = Path(tmp) / f"{run}-{name.replace(' ', '-')}"
                folder.mkdir()
                total, session_holds = timed_import(import_dataset, file, folder)
                totals[name].append(total)
                holds[name].extend(session_holds)
    for name in versions:
        print(
            f"{name:>14}: import of {args.rows} rows {statistics.median(totals[name]):.2f} s "
            f"(runs {', '.join(f'{t:.2f}' for t in totals[name])}); a session held the "
            f"database at most {max(holds[name]):.2f} s, "
            f"median {statistics.median(holds[name]):.2f} s"
        )
    old, new = (statistics.median(totals[name]) for name in versions)
    old_hold, new_hold = (max(holds[name]) for name in versions)
    print(
        f"ratio working tree / {args.baseline}: import {new / old:.2f}, longest hold "
        f"{new_hold / old_hold:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
