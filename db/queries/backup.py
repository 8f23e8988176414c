"""What backup and restore read and write: every table's rows, in key order, and back.

``core.backup`` decides the archive format and the checks; these functions are its only
contact with SQL. Tables are named by their SQL name; ``schema_info`` is never exported (the
archive's manifest carries the schema version).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    Sequence,
    String,
    Table,
    TypeDecorator,
    func,
    select,
    text,
)
from sqlmodel import Session, SQLModel

from db.tables import ModelVersion, SchemaInfo

_NOT_EXPORTED = frozenset({SchemaInfo.__tablename__})


def exported_tables() -> list[str]:
    """Every table a backup holds, parents before children (the order restore inserts in)."""
    return [t.name for t in SQLModel.metadata.sorted_tables if t.name not in _NOT_EXPORTED]


def column_kinds(*, table: str) -> dict[str, str]:
    """Column name -> one of ``bool int float timestamp binary string`` (what its values are).

    Raises ``TypeError`` for a column type this mapping does not know (a new column type must be
    added here before backup can hold it).
    """
    kinds = {}
    for column in _table(table).columns:
        kind = column.type
        if isinstance(kind, TypeDecorator):  # sqlmodel's AutoString wraps String
            kind = kind.impl
        for sql_type, name in _KINDS:
            if isinstance(kind, sql_type):
                kinds[column.name] = name
                break
        else:
            raise TypeError(f"column {table}.{column.name} has type {kind!r}, which has no kind")
    return kinds


# order matters: Boolean before Integer, Float (Double included) before String
_KINDS = (
    (Boolean, "bool"),
    (Integer, "int"),
    (Float, "float"),
    (DateTime, "timestamp"),
    (LargeBinary, "binary"),
    (String, "string"),  # Text and AutoString included
)


def use_snapshot(session: Session, *, duckdb: bool) -> None:
    """Make every later read of this unit of work see one snapshot. Call before the first read.

    PostgreSQL: a REPEATABLE READ transaction (nobody is blocked); DuckDB: the file lock the
    unit of work holds already excludes writers.
    """
    if not duckdb:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def artifact_paths(session: Session) -> list[str]:
    """Every model version's artifact folder (relative to the data folder), sorted."""
    paths = session.connection().execute(select(ModelVersion.__table__.c.artifact_path)).scalars()
    return sorted(path for path in paths if path)


def iter_rows(session: Session, *, table: str, batch_rows: int) -> Iterator[list[dict[str, Any]]]:
    """Every row of ``table`` as ``{column: value}``, in primary-key order, ``batch_rows`` at a
    time."""
    t = _table(table)
    result = session.connection().execute(select(t).order_by(*t.primary_key.columns))
    while batch := result.fetchmany(batch_rows):
        yield [dict(row._mapping) for row in batch]


def count_rows(session: Session) -> dict[str, int]:
    """Row count of every exported table that holds any row."""
    connection = session.connection()
    counts = {}
    for name in exported_tables():
        n = connection.execute(select(func.count()).select_from(_table(name))).scalar_one()
        if n:
            counts[name] = n
    return counts


def insert_rows(session: Session, *, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows as given, ids included (restore keeps every id)."""
    if rows:
        session.connection().execute(_table(table).insert(), rows)


def advance_sequences(session: Session, *, table: str, duckdb: bool) -> None:
    """Move the table's id sequences past its highest id, so new rows never reuse a restored id."""
    connection = session.connection()
    for column in _table(table).columns:
        if not isinstance(column.default, Sequence):
            continue
        highest = connection.execute(select(func.max(column))).scalar_one()
        if not highest:
            continue
        name = column.default.name
        if duckdb:  # DuckDB has no setval: draw the sequence up to the highest restored id
            connection.execute(
                text(f"SELECT max(nextval('{name}')) FROM range(:n)"), {"n": int(highest)}
            )
        else:
            connection.execute(text("SELECT setval(:name, :n)"), {"name": name, "n": int(highest)})


def _table(name: str) -> Table:
    return SQLModel.metadata.tables[name]
