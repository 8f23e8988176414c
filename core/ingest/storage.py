"""Where Ray workers find the data dir (``ray_data_uri``): a mounted filesystem they read and
write in place, or object storage (``s3://`` with any S3-compatible endpoint, ``gs://``, any
:mod:`pyarrow.fs` URI) that media and thumbnails travel through.

With object storage the driver uploads each video's media under its path relative to the data
dir (only when no object of the same size is there); a worker copies the object into a scratch
data dir on its local disk (PyAV seeks, so it decodes local files), runs the usual extraction
there, and sends back the files extraction wrote (keyframe thumbnails, small JPEGs), which the
driver writes into its own data dir, where the dashboard serves them. Subtitle files beside the
videos never travel: the driver reads them while planning. Each machine uses its own credentials
(the usual ``AWS_*`` environment variables, a profile, an instance role): they never travel
through Ray.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from pyarrow import fs

from core.ingest.inputs import IngestError

UPLOAD_THREADS = 8  # object stores answer many small requests at once; one file streams each


class StorageError(IngestError):
    """``ray_data_uri`` is malformed, or its storage cannot be reached, read or written."""


@dataclass(frozen=True)
class DataStore:
    """The data dir as the workers see it: ``root`` in ``filesystem``."""

    uri: str
    filesystem: fs.FileSystem
    root: str

    @property
    def mounted(self) -> bool:
        """True when workers read and write the data dir in place (a local or shared mount)."""
        return self.filesystem.type_name == "local"

    @property
    def name(self) -> str:
        """How messages name the storage (no query options, no credentials)."""
        return f"{self.filesystem.type_name}://{self.root}"

    def check(self) -> None:
        """Reach object storage once, so that a wrong endpoint, bucket or credentials stop the
        run before any video is marked ``processing``; a mount is used as it is."""
        if self.mounted:
            return
        bucket = self.root.split("/", 1)[0]
        try:
            found = self.filesystem.get_file_info(bucket)
        except OSError as e:
            raise StorageError(f"cannot use the storage {self.name}: {_one_line(e)}") from e
        if found.type == fs.FileType.NotFound:
            raise StorageError(f"the storage {self.name}: bucket {bucket!r} does not exist")

    def upload(self, data_dir: Path, media_paths: Iterable[Path]) -> None:
        """Copy each media file (relative to ``data_dir``) to the same path in object storage,
        streamed, unless an object of the same size is there (stored media are named by their
        content hash, so only a copy cut short differs); nothing to do on a mount. A file
        missing here is left to the workers (the object may exist; if not, extraction says
        "file not found" as on one machine)."""
        if self.mounted:
            return
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="ingest-upload") as pool:
            list(pool.map(partial(self._upload_one, data_dir), media_paths))

    def _upload_one(self, data_dir: Path, relative: Path) -> None:
        source = data_dir / relative
        try:
            size = source.stat().st_size
        except FileNotFoundError:
            return
        target = self._key(relative)
        try:
            if self.filesystem.get_file_info(target).size == size:
                return
            fs.copy_files(
                str(source),
                target,
                source_filesystem=fs.LocalFileSystem(),
                destination_filesystem=self.filesystem,
            )
        except OSError as e:
            raise StorageError(f"cannot upload {relative} to {self.name}: {_one_line(e)}") from e

    def delete(self, relative: Path) -> None:
        """Delete the object of a media file (relative to the data dir) when a video is removed
        for good (:mod:`core.removal`); nothing to do on a mount, or when there is none."""
        if self.mounted:
            return
        try:
            self.filesystem.delete_file(self._key(relative))
        except FileNotFoundError:
            return
        except OSError as e:
            raise StorageError(f"cannot delete {relative} from {self.name}: {_one_line(e)}") from e

    @contextmanager
    def worker_data_dir(self, media_path: Path) -> Iterator[WorkerDataDir]:
        """The data dir a worker extracts ``media_path`` (relative) in: the mount itself, or a
        scratch dir holding a copy of the object, removed on exit (also on failure). Raises
        :class:`OSError` with the storage named when the object cannot be read."""
        if self.mounted:
            yield WorkerDataDir(Path(self.root), media_path, scratch=False)
            return
        with tempfile.TemporaryDirectory(prefix="tagger-media-") as scratch:
            local = Path(scratch) / media_path
            local.parent.mkdir(parents=True, exist_ok=True)
            try:
                fs.copy_files(
                    self._key(media_path),
                    str(local),
                    source_filesystem=self.filesystem,
                    destination_filesystem=fs.LocalFileSystem(),
                )
            except FileNotFoundError:
                pass  # extraction reports the missing file, in the same words as on one machine
            except OSError as e:
                raise OSError(f"cannot read {media_path} from {self.name}: {_one_line(e)}") from e
            yield WorkerDataDir(Path(scratch), media_path, scratch=True)

    def _key(self, relative: Path) -> str:
        return f"{self.root.rstrip('/')}/{relative.as_posix()}"


@dataclass(frozen=True)
class WorkerDataDir:
    """A worker's data dir for one video; ``scratch`` when it is a local copy."""

    path: Path
    media_path: Path  # relative
    scratch: bool

    def written(self) -> dict[str, bytes]:
        """What extraction wrote into a scratch copy (path relative to the data dir -> bytes),
        for the driver's data dir; empty on a mount, where the files are in place already."""
        if not self.scratch:
            return {}
        return {
            path.relative_to(self.path).as_posix(): path.read_bytes()
            for path in sorted(self.path.rglob("*"))
            if path.is_file() and path.relative_to(self.path) != self.media_path
        }


def open_store(uri: str, *, role: str = "ray_data_uri") -> DataStore:
    """The storage ``uri`` names (``file:///mnt/tagger``, ``s3://bucket/prefix?endpoint_override=
    ...``); :class:`StorageError` when pyarrow cannot read the URI, naming it by its ``role``
    (the setting, or an ingest input)."""
    try:
        filesystem, root = fs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as e:
        raise StorageError(f"{role} {uri!r}: {_one_line(e)}") from e
    return DataStore(uri=uri, filesystem=filesystem, root=root)


def write_returned(data_dir: Path, files: dict[str, bytes]) -> None:
    """Write the files a worker sent back (see :meth:`WorkerDataDir.written`) under
    ``data_dir``, each replaced whole, so a reader never sees half a thumbnail."""
    for relative, data in files.items():
        path = data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
