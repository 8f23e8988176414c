"""duckdb-engine's SQLAlchemy dialect with SQLAlchemy's compiled-statement cache turned on.

duckdb-engine declares ``supports_statement_cache = False``, which SQLAlchemy reads from the
dialect class itself, so every statement on DuckDB (the product's default database) was compiled
anew on every execution: about 11 % of the Ray ingest driver's main thread, storing results
(py-spy, docs/BENCHMARKS.md). It set False to silence SQLAlchemy's warning until caching was
tested (Mause/duckdb_engine#268), not for a known fault: the dialect compiles with PostgreSQL's
compiler, which caches, and adds no compiler state of its own. The whole test suite runs with the
cache on. :mod:`db.engine` registers this class under the ``duckdb`` name, so URLs stay as they
are.
"""

from __future__ import annotations

import duckdb_engine


class CachingDuckDBDialect(duckdb_engine.Dialect):
    supports_statement_cache = True
