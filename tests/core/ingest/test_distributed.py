"""Ingest on a real two-node Ray cluster (core.ingest.distributed) against the single-machine
pipeline: same statuses, failure reasons, transcripts and embeddings, with the data dir shared or
in S3-compatible storage; a driver that dies and a node that dies lose and duplicate nothing. One
cluster for the module, always stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from core.config import Settings
from core.errors import ConfigurationError
from core.ingest import batch as ingest
from core.ingest import distributed
from core.ingest.extract import Extracted
from core.ingest.pipeline import ModelLoadError, _Task
from core.ingest.storage import StorageError, open_store
from core.media.transcribe import TranscriberError
from core.media.transcript import Segment, SpokenLanguage, Transcript
from db.engine import Database, init_db
from db.queries import embeddings as embeddings_q
from db.queries import videos as videos_q
from scripts.bench.ray_cluster import LocalRayCluster, descendants
from scripts.mediagen import write_srt, write_video
from tests.support.fakes import FAKE_TEXT_DIM, FakeEncoder, FakeTranscriber, RussianTranscriber
from tests.support.s3 import CREDENTIALS

# The module's two-node cluster starts once, on one worker (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("ray-cluster")

CLUSTER_TEST_TIMEOUT_S = 420  # a loaded 2-core CI machine; about a minute each when idle

GOOD_CLIPS = 20
FAIL_TITLE = "clip07"  # the encoder raises on it (batch retried one by one, on a worker)
NAN_TITLE = "clip11"  # the encoder returns NaN for it (rejected by the driver's check)
SAMPLE_RATE = 16000
LITE_TEXT_DIM = 384  # MiniLM
ROOT = Path(__file__).resolve().parents[3]


class SlowFakeEncoder(FakeEncoder):
    """A :class:`FakeEncoder` taking ``seconds`` per batch, so a node can die mid-run."""

    def __init__(self, seconds: float = 0.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.seconds = seconds

    def encode_batch(self, items):
        time.sleep(self.seconds)
        return super().encode_batch(items)


def _corpus(folder: Path) -> Path:
    """24 demo-style inputs: clips with and without audio, one with subtitles, a duplicate, and
    three broken files."""
    folder.mkdir(parents=True)
    for i in range(GOOD_CLIPS):
        shade = 10 + 12 * i
        frames = [np.full((48, 64, 3), (shade + t) % 256, np.uint8) for t in range(10)]
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        audio = (0.2 * np.sin(2 * np.pi * (300 + 20 * i) * t)).astype(np.float32)
        write_video(folder / f"clip{i:02d}.mp4", frames, 10, audio=audio if i % 4 else None)
    write_srt([Segment(0.0, 0.8, "captions from a file")], folder / "clip05.srt")
    (folder / "copy-of-clip03.mp4").write_bytes((folder / "clip03.mp4").read_bytes())
    (folder / "notes.mp4").write_text("not a video at all")
    (folder / "empty.mp4").write_bytes(b"")
    data = (folder / "clip06.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    return folder


def _snapshot(db: Database, key: tuple[str, str] = ("fake", "v1")) -> dict[str, dict]:
    """Per input name: what the database holds about it (vectors separately)."""
    out = {}
    with db.session() as session:
        for video in videos_q.list_videos(session):
            transcript = videos_q.get_transcript(session, video_id=video.id)
            vectors = embeddings_q.get_embeddings(
                session, video_ids=[video.id], encoder_id=key[0], encoder_version=key[1]
            ).get(video.id, {})
            out[video.original_name] = {
                "status": video.status,
                "error": video.error,
                "duration_s": video.duration_s,
                "has_audio": bool(video.has_audio),  # None or False before a first success
                "keyframes": len(videos_q.get_keyframes(session, video_id=video.id)),
                "transcript": transcript.text if transcript is not None else None,
                "vectors": vectors,
            }
        counts = embeddings_q.count_embeddings(session)
    return {"videos": out, "embedding_rows": counts}


def _assert_same(ray_db: Database, reference: Database) -> None:
    got, want = _snapshot(ray_db), _snapshot(reference)
    assert got["embedding_rows"] == want["embedding_rows"]
    assert set(got["videos"]) == set(want["videos"])
    for name, expected in want["videos"].items():
        actual = got["videos"][name]
        for field in ("status", "error", "duration_s", "has_audio", "keyframes", "transcript"):
            assert actual[field] == expected[field], (name, field)
        assert set(actual["vectors"]) == set(expected["vectors"]), name
        for modality, vector in expected["vectors"].items():
            np.testing.assert_allclose(actual["vectors"][modality], vector, atol=1e-5)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalRayCluster]:
    nodes = LocalRayCluster(nodes=2, env=CREDENTIALS)  # each machine's own storage credentials
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.stop()


@pytest.fixture
def driver(cluster: LocalRayCluster) -> Iterator[distributed.Cluster]:
    import ray

    try:
        yield distributed.connect(cluster.address)
    finally:
        ray.shutdown()


def _database(url: str) -> Database:
    db = Database(url)
    init_db(db)
    return db


def _register_model(
    db: Database, settings: Settings, encoder_key: tuple[str, str], dim: int = LITE_TEXT_DIM
) -> int:
    """A tiny active classifier over title vectors of ``dim`` (the lite encoder's by default;
    random labels: only equality of the two prediction paths matters)."""
    from core.classifier import HierarchicalClassifier, Hierarchy
    from core.lifecycle import registry
    from db.queries import model_versions as models_q

    rng = np.random.default_rng(0)
    X = rng.standard_normal((24, dim)).astype(np.float32)
    Y = np.zeros((24, 3), bool)
    Y[:, 0] = True
    Y[np.arange(24), 1 + np.arange(24) % 2] = True
    classifier = HierarchicalClassifier(
        n_ensemble=1, max_epochs=2, trunk="mlp", mlp_width=16, d_model=8
    ).fit({"title": X}, Y, hierarchy=Hierarchy([[], [0], [0]]))
    metadata = registry.ModelMetadata(
        encoder_id=encoder_key[0],
        encoder_version=encoder_key[1],
        node_ids=["a", "a1", "a2"],
        node_paths=["A", "A: 1", "A: 2"],
        node_parents=[[], [0], [0]],
    )
    with db.session() as session:
        version_id = models_q.create_model_version(
            session, encoder_id=encoder_key[0], encoder_version=encoder_key[1]
        ).id
    registry.register_version(
        db,
        version_id=version_id,
        classifier=classifier,
        metadata=metadata,
        settings=settings,
        user=None,
        activate=True,
    )
    return version_id


def _predictions(db: Database, version_id: int) -> dict[str, dict[str, float]]:
    from db.queries import model_versions as models_q

    with db.session() as session:
        videos = videos_q.list_videos(session)
        stored = models_q.get_predictions_for_videos(
            session, video_ids=[v.id for v in videos], model_version_id=version_id
        )
        return {
            v.original_name: {p.node_id: p.probability for p in stored.get(v.id, [])}
            for v in videos
        }


def _review_ranks(db: Database) -> dict[str, int | None]:
    with db.session() as session:
        return {v.original_name: v.review_rank for v in videos_q.list_videos(session)}


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S)
def test_cli_ingest_and_predict_on_ray_with_the_real_lite_encoder(cluster, settings, tmp_path):
    """DuckDB, the real lite encoder and faster-whisper in the actors, `tagger` as users run it."""
    from core.encoders import encoder_cache_key, load_encoder
    from core.lifecycle.prediction import predict_videos
    from core.media.transcribe import load_transcriber

    settings.num_keyframes = 4
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        frames = [np.full((48, 64, 3), 40 + 80 * i, np.uint8) for _ in range(10)]
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        audio = (0.2 * np.sin(2 * np.pi * (400 + 100 * i) * t)).astype(np.float32)
        write_video(folder / f"real{i}.mp4", frames, 10, audio=audio if i else None)
    reference = _database(settings.resolved_database_url)
    single = ingest.ingest_paths(
        reference,
        [folder],
        settings=settings,
        encoder=load_encoder(settings),
        transcriber=load_transcriber(settings),
    )
    assert single.totals == {"ready": 3}
    key = encoder_cache_key(settings)

    ray_dir = tmp_path / "ray-data"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TAGGER_DATA_DIR": str(ray_dir),
        "TAGGER_NUM_KEYFRAMES": "4",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("TAGGER_DATABASE_URL", None)
    ingest_cli = [sys.executable, "-m", "scripts", "ingest", "--ray", cluster.address, str(folder)]
    done = subprocess.run(
        ingest_cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Ray cluster: 2 nodes, 2 CPUs" in done.stdout
    ray_settings = settings.model_copy(update={"data_dir": ray_dir})
    ray_db = Database(ray_settings.resolved_database_url)
    got, want = _snapshot(ray_db, key), _snapshot(reference, key)
    assert got["embedding_rows"] == want["embedding_rows"]
    for name, expected in want["videos"].items():
        assert got["videos"][name]["transcript"] == expected["transcript"]
        assert set(got["videos"][name]["vectors"]) == set(expected["vectors"]) >= {"title"}
        for modality, vector in expected["vectors"].items():
            np.testing.assert_allclose(got["videos"][name]["vectors"][modality], vector, atol=1e-5)

    version = _register_model(reference, settings, key)
    assert _register_model(ray_db, ray_settings, key) == version
    ray_db.dispose()
    assert predict_videos(reference, settings=settings, all_videos=True) == 3
    predict_cli = [sys.executable, "-m", "scripts", "predict", "--all", "--ray", cluster.address]
    done = subprocess.run(
        predict_cli, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "3 videos predicted" in done.stdout
    ray_db = Database(ray_settings.resolved_database_url)
    got, want = _predictions(ray_db, version), _predictions(reference, version)
    ray_db.dispose()
    assert set(got) == set(want) and all(want.values())
    for name, probabilities in want.items():
        assert set(got[name]) == set(probabilities), name
        for node, p in probabilities.items():
            assert got[name][node] == pytest.approx(p, abs=1e-5)


class DriverDied(Exception):
    """Raised from the progress callback: the driver stops mid-run like a killed process."""


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S)
def test_ray_ingest_matches_single_machine_through_a_dead_driver_and_a_dead_node(
    cluster, driver, settings, new_postgres_db, tmp_path
):
    assert driver.nodes == 2 and driver.cpus == 2
    settings.num_keyframes = 4
    folder = _corpus(tmp_path / "in")
    encoder = partial(SlowFakeEncoder, fail_title=FAIL_TITLE, nan_title=NAN_TITLE)

    reference = _database(new_postgres_db())
    single = ingest.ingest_paths(
        reference,
        [folder],
        settings=settings,
        encoder=encoder(),
        transcriber=FakeTranscriber(),
    )
    assert single.totals == {"ready": 18, "failed": 5, "duplicate": 1, "skipped": 1}  # the .srt

    ray_db = _database(new_postgres_db())

    def die_after_five(done: int, total: int, label: str) -> None:
        if done >= 5:
            raise DriverDied(label)

    pipeline = distributed.RayPipeline(
        ray_db,
        settings,
        encoder_factory=partial(encoder, seconds=0.3),
        transcriber_factory=FakeTranscriber,
    )
    with pytest.raises(DriverDied):
        ingest.ingest_paths(
            ray_db, [folder], settings=settings, pipeline=pipeline, progress=die_after_five
        )
    with ray_db.session() as session:
        assert videos_q.count_videos_by_status(session).get("processing", 0) > 0

    # Re-run; node 2's raylet is SIGKILLed once it runs our stages: the job still completes.
    killed = threading.Event()
    stop = threading.Event()

    def kill_node_when_busy() -> None:
        while not stop.is_set():
            busy = [
                pid
                for pid, _ in descendants(cluster.node_pid(1))
                if "_extract_row" in _cmdline(pid) or "MapWorker" in _cmdline(pid)
            ]
            if busy:
                cluster.kill_raylet(1)
                killed.set()
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=kill_node_when_busy, daemon=True)
    watcher.start()
    try:
        rerun = ingest.ingest_paths(ray_db, [folder], settings=settings, pipeline=pipeline)
    finally:
        stop.set()
        watcher.join(timeout=10)
    assert killed.is_set(), "node 2 never ran a stage"
    assert rerun.failed and all(r.reason for r in rerun.failed)
    _assert_same(ray_db, reference)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S)
def test_ray_ingest_through_s3_storage_matches_single_machine(
    cluster, driver, settings, s3, tmp_path
):
    """Media uploaded by the driver, copied to the workers' scratch dirs, thumbnails sent back:
    the same rows, vectors and thumbnail files as one machine with a local data dir; the model
    sent to the prediction actors makes the same predictions."""
    from core.lifecycle.prediction import predict_videos
    from core.lifecycle.ray_prediction import predict_on_ray

    settings.num_keyframes = 4
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        frames = [np.full((48, 64, 3), 40 + 70 * i + t, np.uint8) for t in range(10)]
        t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
        audio = (0.2 * np.sin(2 * np.pi * (300 + 50 * i) * t)).astype(np.float32)
        write_video(folder / f"clip{i}.mp4", frames, 10, audio=audio if i else None)
    write_srt([Segment(0.0, 0.8, "captions from a file")], folder / "clip1.srt")
    data = (folder / "clip2.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "notes.mp4").write_text("not a video at all")
    reference = _database(settings.resolved_database_url)
    ingest.ingest_paths(
        reference, [folder], settings=settings, encoder=FakeEncoder(), transcriber=FakeTranscriber()
    )

    ray_settings = settings.model_copy(
        update={"data_dir": tmp_path / "driver", "ray_data_uri": s3.uri("media/tagger")}
    )
    ray_settings.ensure_dirs()
    ray_db = _database(ray_settings.resolved_database_url)
    pipeline = distributed.RayPipeline(
        ray_db, ray_settings, encoder_factory=FakeEncoder, transcriber_factory=FakeTranscriber
    )
    report = ingest.ingest_paths(ray_db, [folder], settings=ray_settings, pipeline=pipeline)
    assert report.totals == {"ready": 3, "failed": 2, "skipped": 1}  # the .srt
    _assert_same(ray_db, reference)

    store = open_store(ray_settings.ray_data_uri)
    thumbnails = 0
    with ray_db.session() as session:
        for video in videos_q.list_videos(session):
            media = store.filesystem.get_file_info(f"{store.root}/{video.stored_path}")
            assert media.size == (ray_settings.data_dir / video.stored_path).stat().st_size
            for frame in videos_q.get_keyframes(session, video_id=video.id):
                served = (ray_settings.data_dir / frame.thumbnail_path).read_bytes()
                assert served == (settings.data_dir / frame.thumbnail_path).read_bytes()
                thumbnails += 1
    assert thumbnails == 3 * 4

    version = _register_model(reference, settings, ("fake", "v1"), FAKE_TEXT_DIM)
    assert _register_model(ray_db, ray_settings, ("fake", "v1"), FAKE_TEXT_DIM) == version
    assert predict_videos(reference, settings=settings, all_videos=True) == 3
    assert predict_on_ray(ray_db, settings=ray_settings, all_videos=True) == 3
    got, want = _predictions(ray_db, version), _predictions(reference, version)
    assert set(got) == set(want) and all(want[f"clip{i}.mp4"] for i in range(3))
    for name, probabilities in want.items():
        assert got[name] == pytest.approx(probabilities, abs=1e-5), name
    ranks = _review_ranks(reference)  # the review queue's order: same function, same ranks
    assert sorted(r for r in ranks.values() if r is not None) == [0, 1, 2]
    assert _review_ranks(ray_db) == ranks
    # usage statistics stay off in the driver: no thread polling Prometheus for them
    assert "data-usage-metrics-poller" not in {t.name for t in threading.enumerate()}
    ray_db.dispose()
    reference.dispose()


@pytest.mark.slow
@pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_S)
def test_ray_ingest_of_a_bucket_prefix_through_s3_storage(cluster, driver, settings, s3, tmp_path):
    """Inputs in the bucket too (core.ingest.object_inputs): the driver downloads and registers
    them under their URIs, the workers decode them from the data store; a re-run is recognised."""
    settings.num_keyframes = 2
    store = open_store(s3.uri("media"))
    for i in range(2):
        frames = [np.full((48, 64, 3), 60 + 90 * i + t, np.uint8) for t in range(10)]
        clip = write_video(tmp_path / f"clip{i}.mp4", frames, 10)
        with store.filesystem.open_output_stream(f"media/inputs/clip{i}.mp4") as stream:
            stream.write(clip.read_bytes())
    with store.filesystem.open_output_stream("media/inputs/notes.txt") as stream:
        stream.write(b"not a video")
    ray_settings = settings.model_copy(update={"ray_data_uri": s3.uri("media/tagger")})
    ray_db = _database(ray_settings.resolved_database_url)
    pipeline = distributed.RayPipeline(
        ray_db, ray_settings, encoder_factory=FakeEncoder, transcriber_factory=FakeTranscriber
    )
    inputs = [s3.uri("media/inputs/")]
    report = ingest.ingest_paths(ray_db, inputs, settings=ray_settings, pipeline=pipeline)
    assert report.totals == {"ready": 2, "skipped": 1}, report.results
    with ray_db.session() as session:
        names = {v.original_name for v in videos_q.list_videos(session)}
    assert names == {"s3://media/inputs/clip0.mp4", "s3://media/inputs/clip1.mp4"}
    again = ingest.ingest_paths(ray_db, inputs, settings=ray_settings, pipeline=pipeline)
    assert again.totals == {"duplicate": 2, "skipped": 1}
    assert {r.reason for r in again.results if r.status == "duplicate"} == {"already ingested"}
    ray_db.dispose()


def test_unreachable_storage_stops_a_ray_ingest_before_any_video_is_processing(
    settings, s3, tmp_path
):
    folder = tmp_path / "in"
    folder.mkdir()
    write_video(folder / "clip.mp4", [np.zeros((48, 64, 3), np.uint8)] * 5, 10)
    closed = s3.uri("media/tagger").replace(f":{s3.port}", ":9")  # the discard port: refused
    ray_settings = settings.model_copy(update={"ray_data_uri": closed})
    db = _database(ray_settings.resolved_database_url)
    pipeline = distributed.RayPipeline(db, ray_settings, encoder_factory=FakeEncoder)
    refused = "cannot use the storage s3://media/tagger: .*NETWORK_CONNECTION"
    with pytest.raises(StorageError, match=refused):
        ingest.ingest_paths(db, [folder], settings=ray_settings, pipeline=pipeline)
    with db.session() as session:
        assert videos_q.count_videos_by_status(session).get("processing", 0) == 0
    db.dispose()


def test_the_model_actor_asks_for_the_measured_lite_peak_plus_the_imagebind_checkpoint(
    settings, tmp_path
):
    assert distributed.model_actor_memory(settings) == distributed.LITE_ACTOR_MEMORY
    checkpoint = tmp_path / "imagebind_huge.pth"
    checkpoint.write_bytes(b"\0" * 1000)
    imagebind = settings.model_copy(
        update={"encoder": "imagebind", "imagebind_checkpoint": checkpoint}
    )
    assert distributed.model_actor_memory(imagebind) == distributed.LITE_ACTOR_MEMORY + 1000


def test_the_model_actor_pool_takes_its_size_from_the_settings(settings, tmp_path):
    """``TAGGER_RAY_MODEL_ACTORS`` bounds the pool (nodes with many cores need more than one);
    every actor takes ``MODEL_CALLS`` batches at once."""
    db = Database(f"duckdb:///{tmp_path / 'actors.duckdb'}")
    pipeline = distributed.RayPipeline(db, settings.model_copy(update={"ray_model_actors": 3}))
    pool = pipeline._model_actors(gpus=0, videos=1000)
    assert (pool.min_size, pool.initial_size, pool.max_size) == (1, 3, 3)
    assert pool.max_concurrent_calls_per_actor == distributed.MODEL_CALLS == 2
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings(ray_model_actors=0)


def test_only_the_actors_a_job_keeps_busy_start_at_once(settings, tmp_path):
    """A backlog starts the whole pool (one actor at first left the other nodes' actors loading
    their models late); a handful of videos starts one actor (8 videos fill one actor's
    ``MODEL_CALLS`` batches of ``ENCODE_BATCH``), not a model load per node for nothing."""
    db = Database(f"duckdb:///{tmp_path / 'actors.duckdb'}")
    pipeline = distributed.RayPipeline(db, settings.model_copy(update={"ray_model_actors": 4}))
    per_actor = distributed.ENCODE_BATCH * distributed.MODEL_CALLS
    assert per_actor == 8
    assert pipeline._model_actors(gpus=0, videos=1).initial_size == 1
    assert pipeline._model_actors(gpus=0, videos=per_actor).initial_size == 1
    assert pipeline._model_actors(gpus=0, videos=per_actor + 1).initial_size == 2
    assert pipeline._model_actors(gpus=0, videos=96).initial_size == 4


def test_ray_pipeline_without_a_cluster_refuses_before_marking_anything(settings):
    db = _database(settings.resolved_database_url)
    pipeline = distributed.RayPipeline(db, settings, encoder_factory=FakeEncoder)
    with pytest.raises(distributed.RayIngestError, match="not connected"):
        pipeline.run([1], {}, None)
    db.dispose()


def _extracted_items(
    transcripts: list[Transcript | None], *, audio_s: float = 1.0
) -> list[distributed._Item]:
    """Extracted videos as the model actor receives them, ``audio_s`` seconds of silence each."""
    return [
        distributed._Item(
            task=_Task(
                video_id=video_id,
                name=f"video {video_id}",
                media_path=Path(f"media/{video_id}.mp4"),
                content_hash=str(video_id),
                title="",
                description="",
                sidecar=None,
                keys={},
                cached={},
                donor=None,
                started=0.0,
            ),
            extracted=Extracted(
                info=videos_q.StoredMedia(
                    content_hash=str(video_id),
                    stored_path=f"media/{video_id}.mp4",
                    duration_s=1.0,
                    width=None,
                    height=None,
                    has_audio=True,
                    has_video=False,
                ),
                keyframes=[],
                images=[],
                audio=np.zeros(round(audio_s * SAMPLE_RATE), np.float32),
                transcript=transcript,
            ),
        )
        for video_id, transcript in enumerate(transcripts)
    ]


def _listened(
    transcriber: FakeTranscriber,
    transcripts: list[Transcript | None],
    *,
    english_only: bool = False,
    factory: Callable[[], FakeTranscriber] | None = None,
) -> list:
    """The model actor's listening step alone (its constructor starts loading the encoder), on
    one batch of extracted videos; ``english_only`` as the driver passes it (the settings show
    an English-only model)."""
    items = _extracted_items(transcripts)
    distributed._Listener(factory or (lambda: transcriber), english_only).listen_all(items)
    return [item.extracted for item in items]


def test_ray_model_actor_hears_the_next_batch_while_it_encodes_one(monkeypatch):
    """The actor takes ``MODEL_CALLS`` batches at once, as Ray Data gives them: a batch is
    transcribed while the one before it encodes (so the two models keep both cores busy, as in
    one process), and encoding stays one batch at a time."""
    monkeypatch.setattr(distributed, "_node_cpus", lambda: 1)
    encoding_started, second_heard = threading.Event(), threading.Event()

    class MarkingTranscriber(FakeTranscriber):
        def transcribe(self, audio: np.ndarray) -> Transcript:
            if audio.size == 2 * SAMPLE_RATE:  # the second batch's video
                second_heard.set()
            return super().transcribe(audio)

    class WaitingEncoder(FakeEncoder):
        """Encodes the first batch only once the second has been heard."""

        def __init__(self) -> None:
            super().__init__()
            self.running = self.most_at_once = 0

        def encode_batch(self, items):
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
            encoding_started.set()
            try:
                if not second_heard.wait(5.0):
                    raise AssertionError("no batch was heard while one was encoded")
                return super().encode_batch(items)
            finally:
                self.running -= 1

    encoder = WaitingEncoder()
    stage = distributed._ModelStage(lambda: encoder, MarkingTranscriber, english_only=False)
    batches = []
    for audio_s in (1.0, 2.0):
        items = _extracted_items([None], audio_s=audio_s)
        items[0].task.keys["audio"] = "audio-key"
        batches.append({"video_id": np.array([audio_s]), "item": distributed._column(items)})
    first = threading.Thread(target=lambda: batches.append(stage(batches[0])))
    first.start()
    assert encoding_started.wait(10.0)
    second = stage(batches[1])
    first.join(10.0)
    returned = [distributed._unpack(data) for data in [*batches[2]["item"], *second["item"]]]
    assert [item.reason for item in returned] == [None, None]
    assert all(item.produced and "subtitles" in item.produced for item in returned)
    assert encoder.most_at_once == 1


def _one_batch() -> dict[str, np.ndarray]:
    """A batch of one extracted video with audio and no transcript, as the model actor gets it."""
    items = _extracted_items([None])
    items[0].task.keys["audio"] = "audio-key"
    return {"video_id": np.array([0]), "item": distributed._column(items)}


def test_ray_model_actor_hears_a_batch_while_its_encoder_loads(monkeypatch):
    """The encoder loads beside the first calls (torch and the models take seconds, Whisper
    about one): the first batch is transcribed before the load ends, then encoded."""
    monkeypatch.setattr(distributed, "_node_cpus", lambda: 1)
    may_load, transcriber, returned = threading.Event(), FakeTranscriber(), []

    def slow_encoder() -> FakeEncoder:
        if not may_load.wait(10.0):
            raise AssertionError("the encoder was never let load")
        return FakeEncoder()

    stage = distributed._ModelStage(slow_encoder, lambda: transcriber, english_only=False)
    call = threading.Thread(target=lambda: returned.append(stage(_one_batch())))
    call.start()
    deadline = time.monotonic() + 10.0
    while transcriber.calls == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert transcriber.calls == 1 and not returned  # heard; waiting for the encoder
    may_load.set()
    call.join(10.0)
    [item] = [distributed._unpack(data) for data in returned[0]["item"]]
    assert item.reason is None and "subtitles" in item.produced


def _no_text_model() -> FakeEncoder:
    raise ConfigurationError("no text model at /nowhere")


def _no_cublas() -> FakeTranscriber:
    raise TranscriberError("faster-whisper cannot run on cuda: libcublas.so.12")


@pytest.mark.parametrize(
    ("encoder", "transcriber", "words"),
    [
        (_no_text_model, FakeTranscriber, "the encoder cannot be loaded: no text model at"),
        # a GPU whose CUDA libraries CTranslate2 cannot load: one error in the load's words,
        # where each video used to fail its transcription in turn
        (FakeEncoder, _no_cublas, "the speech model cannot be loaded: faster-whisper cannot run"),
    ],
)
def test_a_model_actor_whose_model_cannot_load_says_why_on_every_batch(
    monkeypatch, encoder, transcriber, words
):
    """As one process does: the job stops (Ray Data fails it after its retries) with the
    load's words, and no video is marked failed for it."""
    monkeypatch.setattr(distributed, "_node_cpus", lambda: 1)
    stage = distributed._ModelStage(encoder, transcriber, english_only=False)
    for _ in range(2):
        with pytest.raises(ModelLoadError, match=words):
            stage(_one_batch())


def test_ray_model_actor_detects_the_spoken_language_under_subtitles():
    """The actor runs the pipeline's own ``listen``: subtitles get the detected language,
    audio without text is transcribed, a Whisper transcript is left as it is."""
    subtitles = Transcript(language="en", source="provided", segments=[Segment(0, 1, "hi")])
    whisper = Transcript(language="de", source="whisper", segments=[Segment(0, 1, "hallo")])
    transcriber = RussianTranscriber(0.93)
    found = _listened(transcriber, [subtitles, None, whisper])
    assert (transcriber.calls, transcriber.detections) == (1, 1)
    assert found[0].transcript.source == "provided"
    assert found[0].transcript.spoken == SpokenLanguage("ru", 0.93)
    assert found[1].transcript.source == "whisper" and found[1].transcript.spoken.code == "ru"
    assert found[2].transcript == whisper
    [english_only] = _listened(FakeTranscriber(), [subtitles])
    assert english_only.transcript.spoken is None
    [note] = english_only.problems
    assert note.modality == "audio" and "the speech model is English-only" in note.detail


def test_ray_model_actor_loads_no_english_only_model_just_for_the_note():
    """As in one process: under subtitles, a model the settings show to be English-only is not
    loaded only to say that it cannot tell the language; audio without text still loads it."""
    subtitles = Transcript(language="en", source="provided", segments=[Segment(0, 1, "hi")])

    def never_loaded() -> FakeTranscriber:
        raise AssertionError("the speech model was loaded")

    [noted] = _listened(FakeTranscriber(), [subtitles], english_only=True, factory=never_loaded)
    [note] = noted.problems
    assert "the speech model is English-only" in note.detail and noted.transcript == subtitles
    transcriber = FakeTranscriber()
    [transcribed] = _listened(transcriber, [None], english_only=True)
    assert transcribed.transcript.source == "whisper"
