"""Child process of the ingest kill tests: ``python -m tests.support.slow_ingest FOLDER LOG``.

Ingests FOLDER into the database of the ``TAGGER_*`` environment with a :class:`FakeEncoder` that
appends each title to LOG and takes :data:`SECONDS_PER_VIDEO`, so a parent has time to kill it
mid-batch and can tell from LOG what was encoded. Prints ``READY`` once the database is open
and ``ACK <totals as JSON>`` when the batch is done.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from core.config import get_settings
from core.encoders import EncoderInput
from core.ingest.batch import ingest_paths
from db.engine import Database, init_db
from tests.support.fakes import FakeEncoder, FakeTranscriber

SECONDS_PER_VIDEO = 0.3
KEYFRAMES = 2


class LoggingSlowEncoder(FakeEncoder):
    """A :class:`FakeEncoder` that logs each title to ``log`` and is slow."""

    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        out = []
        for item in items:
            with self.log.open("a") as log:
                log.write(item.title + "\n")
            time.sleep(SECONDS_PER_VIDEO)
            out += super().encode_batch([item])
        return out


def command(folder: Path, log: Path) -> list[str]:
    """The ``python`` arguments that run this child (for
    :func:`tests.support.kill.run_and_kill`)."""
    return ["-m", __name__, str(folder), str(log)]


def main(folder: Path, log: Path) -> None:
    settings = get_settings()
    settings.num_keyframes = KEYFRAMES
    db = Database(settings.resolved_database_url)
    init_db(db)
    print("READY", flush=True)
    report = ingest_paths(
        db,
        [folder],
        settings=settings,
        encoder=LoggingSlowEncoder(log),
        transcriber=FakeTranscriber(),
    )
    print("ACK", json.dumps(report.totals), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
