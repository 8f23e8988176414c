"""How long adding a priority rule takes when it raises many videos the active model has already
predicted (``core.priority_rules.add_rule``: the raise, its audit rows, one unit of work).

Builds a DuckDB of ``--videos`` predicted videos (:func:`scripts.bench.dashboard_pages.populate`:
six stored tag probabilities each, some reviewed), then adds a rule on the tag predicted most
often at each of ``--from`` probabilities in turn (fewer videos match a higher one), timing each
add and counting what it raised; between two, the rule is removed and every priority cleared.

    python -m scripts.bench.priority_rules --videos 100000
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from core import priority_rules
from core.config import Settings
from db.engine import get_database
from db.tables import ReviewPriority
from scripts.bench.dashboard_pages import populate

CLEAR_PRIORITIES = "UPDATE video SET priority = 0, priority_reason = NULL, prioritized_at = NULL"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=100_000)
    parser.add_argument("--from", dest="minimums", type=float, nargs="+", default=[0.99, 0.95, 0.8])
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-priority-rules-"))
    try:
        settings = Settings(data_dir=work)
        populate(settings, args.videos)
        db = get_database(settings)
        with db.session() as session:
            node_id, predicted = session.exec(
                text(
                    "SELECT node_id, count(*) AS n FROM prediction WHERE probability >= 0.5 "
                    "GROUP BY node_id ORDER BY n DESC, node_id LIMIT 1"
                )
            ).one()
        print(f"duckdb, {args.videos:,} videos; tag {node_id} predicted for {predicted:,}")
        for minimum in args.minimums:
            started = time.perf_counter()
            with db.session() as session:
                added = priority_rules.add_rule(
                    session,
                    tag=node_id,
                    min_probability=minimum,
                    level=ReviewPriority.URGENT,
                    user=None,
                )
            took = time.perf_counter() - started
            print(f"rule from {minimum:.2f}: {added.raised:,} videos raised in {took:.2f} s")
            with db.session() as session:
                priority_rules.remove_rule(session, rule_id=added.rule.id, user=None)
                session.exec(text(CLEAR_PRIORITIES))
        db.dispose()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
