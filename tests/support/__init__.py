"""Helpers shared by the test suites, imported as ``tests.support.<module>``.

pytest puts the repository root on ``sys.path`` (``pythonpath`` in pyproject.toml) and child
processes run with the root as their working directory, so ``tests`` resolves as a namespace
package there too (``python -m tests.support.slow_ingest``).

- :mod:`tests.support.postgres`: a throwaway PostgreSQL cluster and fresh databases on it.
- :mod:`tests.support.fakes`: deterministic stand-ins for the encoders and the transcriber.
- :mod:`tests.support.kill`: run a child process and ``kill -9`` it at a chosen point.
- :mod:`tests.support.slow_ingest`: the child that ingests slowly, for kill tests.
- :mod:`tests.support.hostile_media`: the hostile media corpus.
"""
