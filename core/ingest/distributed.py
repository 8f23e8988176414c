"""Ingest on a Ray cluster: the pipeline's stages as Ray Data operators, for large backlogs.

The driver (this process) registers and plans exactly like the single-machine pipeline, so
cached and duplicate videos never reach a worker. The rest flows through

    extraction     CPU tasks: probe, keyframes + thumbnails, audio, embedded subtitles
    models         actor pool, batches of ``ENCODE_BATCH`` (GPU on cuda); each actor holds the
                   transcriber and the encoder, like the single process (they share Whisper):
      listening      transcribes videos still without a transcript, detects the spoken
                     language under subtitles (``listen``)
      encoding       every modality the cache did not answer

and streams back to the driver, which checks and stores each video with its final status in one
transaction (a few videos share a session). The driver is the only database writer, so DuckDB
works as well as PostgreSQL. Every stage calls the function :mod:`core.ingest.pipeline` calls.
One difference: a transcript found on a worker is encoded there (no round trip to the cache).
Videos go through in windows of ``WINDOW`` (one Ray dataset each), so a backlog of millions
needs no more driver memory than a few thousand.

Exactly once in effect: a video stays ``processing`` until the transaction that stores its
results sets its final status, so a run that dies leaves nothing half-written and the next run
redoes only unfinished videos. Ray retries the tasks and restarts the actors of a node that
dies; a video that comes back twice in one run is stored once.

Workers read media and write thumbnails under ``ray_data_uri`` (default: ``data_dir`` as a
``file://`` URI), resolved with ``pyarrow.fs``: a shared mount, possibly at another path on
each machine, or object storage (S3-compatible and the others pyarrow reaches), through which
the media travel and from which the thumbnails come back to the driver (:mod:`.storage`).
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from core.config import Settings
from core.encoders import Encoder, InvalidEncoderInput, encoder_cache_key, load_encoder
from core.ingest.batch import IngestError
from core.ingest.extract import Extracted, listen, needs_listening, noted_instead_of_listening
from core.ingest.pipeline import (
    ENCODE_BATCH,
    INPUT_ERRORS,
    IngestResult,
    Pipeline,
    ProgressCallback,
    _encoder_input,
    _from_donor,
    _Task,
    encode_items,
    extract_task,
    load_model,
    reason_of,
    text_key,
)
from core.ingest.storage import open_store, write_returned
from core.media.transcribe import PARALLEL_CALLS, Transcriber, english_only, load_transcriber
from db.engine import Database
from db.tables import VideoStatus

logger = logging.getLogger(__name__)

AUTO = "auto"  # start a local cluster, or join the one already running on this machine
WINDOW = 4096  # videos planned, marked processing and sent as one Ray dataset (bounds memory)
STORE_BATCH = 8  # videos stored per driver session
STORE_EVERY_S = 2.0  # ... or fewer, when results come in slowly
EXTRACT_CPUS = 0.5  # decoding is mostly one thread in PyAV
ACTOR_CPUS = 0.25  # model actors wait on their inputs much of the time
MODEL_CALLS = 2  # batches a model actor holds at once (one heard while another is encoded)
LITE_ACTOR_MEMORY = 2 * 1024**3  # bytes: a model actor's peak with the lite models (see below)


class RayIngestError(IngestError):
    """The cluster cannot be reached or cannot read the media (a clear error before any work)."""


@dataclass(frozen=True)
class Cluster:
    """What the driver joined."""

    nodes: int
    cpus: float
    gpus: float
    dashboard_url: str | None  # None when the cluster runs without its dashboard


def connect(address: str) -> Cluster:
    """Join the cluster at ``address`` (``host:port``, ``ray://host:10001``), or with ``auto`` the
    one running on this machine, else start a local one."""
    import ray

    # The product runs offline: no usage statistics, unless the operator sets this. Left on, Ray
    # Data also starts a driver thread that asks a Prometheus server for them every 10 s and logs
    # each failure with a traceback (whose formatting parses source: CPython 3.11's AST
    # constructor is not thread-safe, gh-106905, so that broke other code parsing at that time).
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    options = {"log_to_driver": False, "logging_level": logging.WARNING}
    try:
        if ray.is_initialized():
            context = None
        elif address == AUTO:
            try:
                context = ray.init(address="auto", **options)
            except ConnectionError:  # none running here: start one
                context = ray.init(**options)
        else:
            context = ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as e:
        raise RayIngestError(f"cannot join the Ray cluster at {address!r}: {e}") from e
    resources = ray.cluster_resources()
    url = getattr(context, "dashboard_url", None)
    return Cluster(
        nodes=sum(1 for node in ray.nodes() if node["Alive"]),
        cpus=float(resources.get("CPU", 0.0)),
        gpus=float(resources.get("GPU", 0.0)),
        dashboard_url=f"http://{url}" if url else None,
    )


def leave() -> None:
    """Leave the cluster once the command's work is done (a local cluster that ``auto`` started
    stops). Left to interpreter exit, Ray first sleeps 0.5 s for the workers' log lines, which
    this driver does not print (``log_to_driver`` is off)."""
    import ray

    ray.shutdown()


def model_actor_memory(settings: Settings) -> int:
    """Bytes of memory a model actor asks Ray for, so that Ray does not pack more of them on a
    node than its RAM holds.

    With the lite encoder and the bundled Whisper tiny.en the actor peaked at 1869-1915 MiB
    (VmHWM, two runs encoding the 24 demo videos in batches of ``ENCODE_BATCH``):
    ``python -m scripts.bench.ray_profile --skip-single``, line "model actor(s)". Hence
    ``LITE_ACTOR_MEMORY``. ImageBind holds its whole checkpoint in memory (fp32, as on disk), so
    that file's size is added. A Whisper model larger than tiny.en (``whisper_model``) is not
    counted: a few hundred MiB up to ~1.5 GiB for large-v3 in int8.
    """
    memory = LITE_ACTOR_MEMORY
    if settings.encoder == "imagebind" and settings.imagebind_checkpoint:
        memory += Path(settings.imagebind_checkpoint).stat().st_size
    return memory


def data_uri(settings: Settings) -> str:
    """Where workers find the data dir."""
    return settings.ray_data_uri or settings.data_dir.resolve().as_uri()


# --- what travels between the stages ------------------------------------------------------------


@dataclass
class _Item:
    """One video on its way through the stages; ``reason`` set once it failed."""

    task: _Task  # media_path relative to the data dir
    extracted: Extracted | None = None
    produced: dict[str, np.ndarray] | None = None
    reason: str | None = None
    files: dict[str, bytes] = field(default_factory=dict)  # for the driver's data dir (storage)


def _pack(item: _Item) -> bytes:
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def _unpack(data: bytes) -> _Item:
    return pickle.loads(data)  # our own stage outputs, within one Ray job


def _column(items: Sequence[_Item]) -> np.ndarray:
    column = np.empty(len(items), dtype=object)
    column[:] = [_pack(item) for item in items]
    return column


def _unexpected(error: Exception, item: _Item, stage: str) -> None:
    logger.error("%s of %s failed unexpectedly", stage, item.task.name, exc_info=error)
    item.reason = f"{type(error).__name__}: {error}"


# --- the stages (run on workers) ----------------------------------------------------------------


def _extract_row(row: dict, *, settings: Settings, uri: str) -> dict:
    """Ray Data ``map``: decode one video (CPU task; thumbnails land in the shared data dir, or
    travel back with the item from object storage's scratch copy)."""
    item = _unpack(row["item"])
    try:
        with open_store(uri).worker_data_dir(item.task.media_path) as data_dir:
            local = settings.model_copy(update={"data_dir": data_dir.path})
            task = replace(item.task, media_path=data_dir.path / item.task.media_path)
            item.extracted = extract_task(task, local)
            item.files = data_dir.written()
    except INPUT_ERRORS as e:
        item.reason = reason_of(e)
    except Exception as e:  # noqa: BLE001 - logged; one file must not end the job
        _unexpected(e, item, "extraction")
    return {"video_id": row["video_id"], "item": _pack(item)}


class _Listener:
    """The speech model of one model actor, loaded on first need, and the threads that run it:
    ``PARALLEL_CALLS`` videos at once when the model allows it, as in the single-machine
    pipeline, shared by the batches the actor holds at a time."""

    def __init__(self, transcriber_factory: Callable[[], Transcriber], english_only: bool) -> None:
        """``english_only``: the settings show the speech model to be English-only (the
        default tiny.en; False for a custom factory): it is not loaded just to note that under
        subtitles, as in the single-machine pipeline."""
        self._factory = transcriber_factory
        self._english_only = english_only
        self._transcriber: Transcriber | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._loading = threading.Lock()

    def listen_all(self, items: list[_Item]) -> None:
        """Transcribe, or detect the spoken language of, every video that needs it."""
        only_english = (
            self._english_only if self._transcriber is None else not self._transcriber.multilingual
        )
        waiting = [
            item
            for item in items
            if item.reason is None
            and needs_listening(item.extracted)
            and not noted_instead_of_listening(item.extracted, english_only=only_english)
        ]
        if waiting:
            list(self._started().map(self._listen, waiting))

    def _started(self) -> ThreadPoolExecutor:
        with self._loading:
            if self._threads is None:
                self._transcriber = load_model("speech model", self._factory)
                calls = PARALLEL_CALLS if self._transcriber.thread_safe else 1
                self._threads = ThreadPoolExecutor(calls, thread_name_prefix="listen")
            return self._threads

    def _listen(self, item: _Item) -> None:
        try:
            listen(item.extracted, self._transcriber)
        except INPUT_ERRORS as e:
            item.reason = reason_of(e)
        except Exception as e:  # noqa: BLE001 - logged; one file must not end the job
            _unexpected(e, item, "transcription")


def _load_encoder(encoder_factory: Callable[[], Encoder]) -> Encoder:
    """A model actor's encoder, with torch on every CPU of the node."""
    import torch

    # Ray starts workers with OMP_NUM_THREADS=1 (fractional CPUs): torch would then encode
    # on one thread where the single-machine pipeline uses every core of the machine. (The
    # lite encoder's CTranslate2 load sets it back to 1, as it does in the single process.)
    torch.set_num_threads(_node_cpus())
    return load_model("encoder", encoder_factory)


class _ModelStage:
    """Ray Data actor: the speech model on the audio extraction decoded (:func:`listen`, as in
    the single-machine pipeline), then the encoder on the batch; sends back vectors, not images
    or audio.

    One actor holds both models, as the single process does: the lite encoder's audio embedding
    then reuses the Whisper encoder pass of transcription (:mod:`core.media.whisper_model`) and
    the Whisper model loads once. In two actor pools every window was encoded twice and Whisper
    loaded twice: about half of Ray's extra CPU time on one machine (docs/BENCHMARKS.md).

    The actor takes ``MODEL_CALLS`` batches at once so that one batch is heard while the one
    before it is encoded, as the single process transcribes on its extraction threads while its
    main thread encodes: one call at a time left a core idle once extraction had ended. One
    batch encodes at a time (the encoders are not made for concurrent calls)."""

    def __init__(
        self,
        encoder_factory: Callable[[], Encoder],
        transcriber_factory: Callable[[], Transcriber],
        english_only: bool,
    ) -> None:
        # loaded beside the first calls, not before them: the first batches are heard while
        # torch and the encoder load (seconds), as the single process transcribes meanwhile
        loading = ThreadPoolExecutor(1, thread_name_prefix="load-encoder")
        self._encoder = loading.submit(_load_encoder, encoder_factory)
        loading.shutdown(wait=False)  # its thread ends with the load
        self._encoding = threading.Lock()
        self._listener = _Listener(transcriber_factory, english_only)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        items = [_unpack(data) for data in batch["item"]]
        self._listener.listen_all(items)
        with self._encoding:
            self._encode_all(items)
        for item in items:
            if item.extracted is not None:
                item.extracted = replace(item.extracted, images=[], audio=None)
        return {"video_id": batch["video_id"], "item": _column(items)}

    def _encode_all(self, items: list[_Item]) -> None:
        waiting = []
        for item in items:
            if item.reason is not None:
                continue
            transcript = item.extracted.transcript
            if transcript is not None and transcript.text and "subtitles" not in item.task.keys:
                item.task.keys["subtitles"] = text_key(transcript.text)
            try:
                encoder_input = _encoder_input(item.task, item.extracted)
            except InvalidEncoderInput as e:
                item.reason = reason_of(e)
                continue
            if encoder_input is None:
                item.produced = {}
            else:
                waiting.append((item, encoder_input))
        if not waiting:
            return
        outcomes = encode_items(
            self._encoder.result(),  # a load that failed raises here, on every batch
            [entry for _, entry in waiting],
            [i.task.name for i, _ in waiting],
        )
        for (item, _), outcome in zip(waiting, outcomes, strict=True):
            if isinstance(outcome, str):
                item.reason = outcome
            else:
                item.produced = outcome


# --- the driver ---------------------------------------------------------------------------------


class _Meter:
    """Progress for the terminal: done / failed and throughput, through the pipeline's callback
    (its third argument is a free-form label)."""

    def __init__(self, total: int, progress: ProgressCallback | None) -> None:
        self.total, self.progress = total, progress
        self.done = self.failed = 0
        self.video_s = 0.0
        self.started = time.perf_counter()
        if progress is not None:
            progress(0, total, "planning")

    def add(self, result: IngestResult) -> None:
        self.done += 1
        self.failed += result.status == VideoStatus.FAILED
        self.video_s += result.duration_s or 0.0
        if self.progress is not None:
            wall = max(time.perf_counter() - self.started, 1e-9)
            label = (
                f"{self.failed} failed, {self.done / wall:.1f} videos/s, "
                f"{self.video_s / wall:.1f} s of video/s"
            )
            self.progress(self.done, self.total, label)


def _node_cpus() -> int:
    """Logical CPUs of the node this worker runs on (``ray start --num-cpus``)."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return max(1, int(node["Resources"].get("CPU", 1)))
    raise RayIngestError(f"this worker's node {node_id} is not in the cluster's node list")


def _pool_size(gpus: int) -> int:
    """Actors per model pool: one per GPU, else one per node (each actor holds its own copy of
    the models; more would only add model loads)."""
    import ray

    if gpus:
        return max(1, int(ray.cluster_resources().get("GPU", 1)))
    return max(1, sum(1 for node in ray.nodes() if node["Alive"]))


class RayPipeline(Pipeline):
    """The pipeline with extraction, transcription and encoding on a Ray cluster (join it first
    with :func:`connect`); planning and storing stay in this process.

    ``encoder_factory``/``transcriber_factory`` build the models inside each actor (default: the
    configured ones); they must be picklable. ``max_actors``: per model pool (default: the
    ``ray_model_actors`` setting, else one per node, or one per GPU on cuda).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        encoder_factory: Callable[[], Encoder] | None = None,
        transcriber_factory: Callable[[], Transcriber] | None = None,
        max_actors: int | None = None,
    ) -> None:
        super().__init__(db, settings, encoder=None, transcriber=None)
        self._custom_encoder = encoder_factory is not None
        self._encoder_factory = encoder_factory or partial(load_encoder, settings)
        self._transcriber_factory = transcriber_factory or partial(load_transcriber, settings)
        self._english_only = transcriber_factory is None and english_only(settings)
        self._max_actors = max_actors or settings.ray_model_actors
        self._key: tuple[str, str] | None = None

    @property
    def encoder_key(self) -> tuple[str, str]:
        """The actors' encoder (id, version), without loading the models in the driver."""
        if self._key is None:
            self._key = (
                self._encoder_factory().cache_key
                if self._custom_encoder
                else encoder_cache_key(self.settings)
            )
        return self._key

    def run(
        self, video_ids: Sequence[int], sidecars: dict[int, Path], progress: ProgressCallback | None
    ) -> list[IngestResult]:
        import ray

        store = open_store(data_uri(self.settings))
        store.check()  # a clear error before anything is marked processing
        if not ray.is_initialized():
            raise RayIngestError("not connected to a Ray cluster (call connect() first)")
        meter = _Meter(len(video_ids), progress)
        results: dict[int, IngestResult] = {}

        def finish(result: IngestResult) -> None:
            results[result.video_id] = result
            meter.add(result)

        for start in range(0, len(video_ids), WINDOW):
            work: dict[int, _Task] = {}
            complete = []
            for task in self._plan(video_ids[start : start + WINDOW], sidecars):
                if isinstance(task, IngestResult):
                    finish(task)
                elif task.donor is not None and self._complete_from_cache(task):
                    complete.append((task, _from_donor(task), {}))
                else:
                    work[task.video_id] = task
            for result in self._store(complete):
                finish(result)
            if work:
                store.upload(
                    self.settings.data_dir, [self._relative(task) for task in work.values()]
                )
                for result in self._process(work, store.uri):
                    finish(result)
        return [results[video_id] for video_id in video_ids]

    def _process(self, work: dict[int, _Task], uri: str) -> Iterator[IngestResult]:
        """Run the stages on the cluster; store results as they stream back."""
        pending: list[_Item] = []
        seen: set[int] = set()
        flushed = time.monotonic()
        for row in self._dataset(work, uri).iter_rows():
            item = _unpack(row["item"])
            if item.task.video_id in seen:  # a retried block delivered twice
                continue
            seen.add(item.task.video_id)
            pending.append(item)
            if len(pending) >= STORE_BATCH or time.monotonic() - flushed > STORE_EVERY_S:
                yield from self._store_items(work, pending)
                pending, flushed = [], time.monotonic()
        yield from self._store_items(work, pending)
        missing = set(work) - seen
        if missing:
            raise RayIngestError(
                f"the cluster returned no result for {len(missing)} videos; run again"
            )

    def _dataset(self, work: dict[int, _Task], uri: str):
        import ray.data

        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        gpus = 1 if self.settings.device.startswith("cuda") else 0
        rows = [
            {
                "video_id": video_id,
                "item": _pack(_Item(task=replace(task, media_path=self._relative(task)))),
            }
            for video_id, task in work.items()
        ]
        return (
            ray.data.from_items(rows, override_num_blocks=len(rows))
            .map(
                _extract_row,
                fn_kwargs={"settings": self.settings, "uri": uri},
                num_cpus=EXTRACT_CPUS,
            )
            .map_batches(
                _ModelStage,
                fn_constructor_kwargs={
                    "encoder_factory": self._encoder_factory,
                    "transcriber_factory": self._transcriber_factory,
                    "english_only": self._english_only,
                },
                batch_size=ENCODE_BATCH,
                compute=self._model_actors(gpus, len(rows)),
                num_cpus=ACTOR_CPUS,
                num_gpus=gpus,
                memory=model_actor_memory(self.settings),
            )
        )

    def _model_actors(self, gpus: int, videos: int):
        """The model actors' pool: up to ``max_actors``, each taking ``MODEL_CALLS`` batches.

        As many start at once as ``videos`` can keep busy: Ray Data otherwise starts one and adds
        the others only once its queue backs up, each then loading its models (seconds) while
        the first one works; in a short job the later ones may arrive when most of it is done
        (suspected, not measured, on a 16-core machine where 8 nodes did 1.24x one node)."""
        import ray.data

        size = self._max_actors or _pool_size(gpus)
        busy = math.ceil(videos / (ENCODE_BATCH * MODEL_CALLS))
        return ray.data.ActorPoolStrategy(
            min_size=1,
            max_size=size,
            initial_size=max(1, min(size, busy)),
            max_concurrent_calls_per_actor=MODEL_CALLS,
            enable_true_multi_threading=True,
        )

    def _relative(self, task: _Task) -> Path:
        """The media's path relative to the data dir: the same on every worker and in storage."""
        return task.media_path.relative_to(self.settings.data_dir)

    def _store_items(self, work: dict[int, _Task], items: list[_Item]) -> list[IngestResult]:
        """The driver's own tasks (with the cached vectors) get the workers' results; the files
        they sent back (object storage) are in the data dir before the rows naming them."""
        results, entries = [], []
        for item in items:
            write_returned(self.settings.data_dir, item.files)
            task = work[item.task.video_id]
            task.keys.update(item.task.keys)  # a transcript found on a worker
            if item.reason is not None:
                results.append(self._fail(task, item.reason))
            else:
                entries.append((task, item.extracted, item.produced))
        return [*results, *self._store(entries)]
