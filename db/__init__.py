"""Storage: SQLModel tables (:mod:`db.tables`), engine and sessions (:mod:`db.engine`), and the
query functions (:mod:`db.queries`), the only code that reads or writes the database.

Typical use::

    from db import get_database
    from db.queries import videos

    db = get_database()
    with db.session() as session:  # one short unit of work
        video = videos.get_video(session, video_id=1)
"""

from db.engine import (
    Database,
    DatabaseBusyError,
    DatabaseError,
    SchemaTooNewError,
    get_database,
    init_db,
    latest_schema_version,
)

__all__ = [
    "Database",
    "DatabaseBusyError",
    "DatabaseError",
    "SchemaTooNewError",
    "get_database",
    "init_db",
    "latest_schema_version",
]
