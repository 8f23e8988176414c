"""db/unwritten.py: an answer is asked again after a write (by another Database on the same
file), past max_age_s, or when keep refused it; PostgreSQL is asked each time."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.engine import Database, init_db
from db.tables import Video
from db.unwritten import UnwrittenAnswers


def _asking(answers: list[str]):
    asked = []

    def ask() -> str:
        asked.append(1)
        return answers[len(asked) - 1]

    return ask, asked


def test_kept_until_a_write_or_max_age(tmp_path: Path) -> None:
    path = tmp_path / "kept.duckdb"
    db, writer = Database(f"duckdb:///{path}"), Database(f"duckdb:///{path}")
    init_db(db)
    ask, asked = _asking(["a", "b", "c"])
    kept = UnwrittenAnswers()
    assert [kept.ask(db, "q", ask), kept.ask(db, "q", ask)] == ["a", "a"]
    with writer.session() as session:
        session.add(Video(title="new"))
    assert kept.ask(db, "q", ask) == "b" and len(asked) == 2
    aged = UnwrittenAnswers(max_age_s=0)
    assert [aged.ask(db, "q", ask)] == ["c"] and len(asked) == 3


def test_an_answer_keep_refuses_is_asked_each_time(tmp_path: Path) -> None:
    db = Database(f"duckdb:///{tmp_path / 'refused.duckdb'}")
    init_db(db)
    ask, asked = _asking(["running", "running", "done", "later"])
    answers = UnwrittenAnswers()
    seen = [answers.ask(db, "job", ask, keep=lambda a: a == "done") for _ in range(4)]
    assert seen == ["running", "running", "done", "done"] and len(asked) == 3


@pytest.mark.postgres
@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_postgresql_is_asked_each_time(database: Database) -> None:
    ask, _ = _asking(["a", "b"])
    answers = UnwrittenAnswers()
    assert [answers.ask(database, "q", ask), answers.ask(database, "q", ask)] == ["a", "b"]
