"""Reliability fixtures: a fresh database with a small taxonomy and accounts, a deterministic
fake encoder, the hostile media generator, and a tally of what the suite tried.

The tally (inputs tried, faults injected, sessions run, anything lost) is printed at the end of
the run: ``pytest tests/reliability -m "slow or not slow" -s`` shows the figures of the report.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from argon2 import PasswordHasher

from core import auth
from core.config import Settings
from core.encoders import Encoder, EncoderInput
from core.encoders.base import TEXT_MODALITIES
from core.taxonomy import Taxonomy, from_paths, save_to_db
from core.transcribe import Transcriber
from core.transcript import Segment, Transcript
from db.engine import Database, init_db

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PASSWORD = "correct horse battery staple"
LEAVES = (("Sports", "Soccer"), ("Sports", "Tennis"), ("Music", "Rock"), ("Music", "Jazz"))

TALLY: Counter[str] = Counter()


def pytest_terminal_summary(terminalreporter) -> None:
    if TALLY:
        terminalreporter.write_sep("-", "reliability tally")
        for key, value in sorted(TALLY.items()):
            terminalreporter.write_line(f"{key}: {value}")


class FakeEncoder(Encoder):
    """Deterministic, instant stand-in for the lite encoder (vectors derived from the input)."""

    id = "fake"
    version = "v1"

    def __init__(self) -> None:
        self.dims = {"title": 8, "description": 8, "subtitles": 8, "frames": 4, "audio": 4}
        self.calls = 0

    def encode_batch(self, items: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        self.calls += len(items)
        out = []
        for item in items:
            vectors = {m: text_vector(item.text(m)) for m in TEXT_MODALITIES if item.text(m)}
            if item.frames:
                mean = np.mean([f.mean(axis=(0, 1)) for f in item.frames], axis=0)
                vectors["frames"] = np.r_[mean / 255.0, 1.0].astype(np.float32)
            if item.has_audio:
                vectors["audio"] = np.array([item.audio.std(), item.audio.size / 1e5, 1.0, 0.5], np.float32)
            out.append(vectors)
        return out


class NoSpeech(Transcriber):
    name = "none"
    version = "1"

    def transcribe(self, audio: np.ndarray) -> Transcript:
        return Transcript(language="en", source="whisper", segments=[Segment(0.0, 0.5, "words")])


def text_vector(text: str) -> np.ndarray:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).standard_normal(8).astype(np.float32)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """The machine is shared: one intra-op thread keeps training and encoding predictable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def quick_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id hashes with the smallest cost: sign-in paths stay real, the suite stays fast
    (the production cost is argon2-cffi's default)."""
    monkeypatch.setattr(auth, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url, lock_timeout_s=settings.db_lock_timeout_s)
    init_db(database)
    yield database
    database.dispose()


@pytest.fixture
def taxonomy(db: Database) -> Taxonomy:
    tree = from_paths([[p[0]] for p in LEAVES] + [list(p) for p in LEAVES])
    with db.session() as session:
        save_to_db(session, tree)
    return tree


@pytest.fixture
def accounts(db: Database) -> dict[str, auth.CurrentUser]:
    """``mod`` and ``mod2`` (moderators) and ``boss`` (admin), all with PASSWORD."""
    return {
        name: auth.create_user(db, username=name, password=PASSWORD, role=role)
        for name, role in (("mod", "moderator"), ("mod2", "moderator"), ("boss", "admin"))
    }


@pytest.fixture
def fake_encoder() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture
def no_speech() -> NoSpeech:
    return NoSpeech()


@pytest.fixture(scope="session")
def hostile() -> ModuleType:
    """``tests/reliability/hostile_media.py`` (tests are not a package: loaded by path)."""
    return _load_by_path("hostile_media", HERE / "hostile_media.py")


@pytest.fixture
def tally() -> Counter[str]:
    return TALLY


def _load_by_path(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server (the db tests' cluster helper, tests/db/conftest.py), or skip."""
    helper = _load_by_path("db_tests_conftest", ROOT / "tests" / "db" / "conftest.py")
    cluster = helper._Cluster()
    cluster.start()
    if cluster.url is None:
        pytest.skip(cluster.reason)
    yield cluster.url
    cluster.stop()


@pytest.fixture
def new_postgres_db(postgres_url: str) -> Callable[[], str]:
    """``new_postgres_db()`` -> the URL of a new empty database on that server."""
    helper = sys.modules["db_tests_conftest"]
    return lambda: helper._fresh_pg_database(postgres_url)
