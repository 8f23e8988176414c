"""Videos a platform already keeps in its object storage, taken by URI through the HTTP API
(``POST /api/v1/videos/from-storage``) instead of sent as an upload: the server reads the object
itself and stores it as an upload is stored (:func:`core.ingest.batch.receive_upload`: probing,
size limit, content-hash and external-id idempotency), so the platform's bytes cross the network
once, from its storage to the server, not through its own upload pipeline.

Only objects under the prefixes an admin allows (``TAGGER_API_STORAGE_PREFIXES``) are read, with
the options each prefix carries (``s3://uploads/incoming/?endpoint_override=minio:9000``): a
caller names an object, never an endpoint, options or a local path, so an API token cannot make
the server call another host or read its own files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import BinaryIO

from pyarrow import fs

from core.config import Settings
from core.ingest.batch import StoredUpload, UploadRejected, UploadTooLarge, receive_upload
from core.ingest.storage import StorageError, open_store
from db.engine import Database
from db.queries import Actor


class StorageUriRefused(UploadRejected):
    """A URI outside the allowed prefixes, or one that carries options of its own."""


def allowed_uri(uri: str, prefixes: Sequence[str]) -> str:
    """The URI to read ``uri`` with: the object's URI plus the options of the allowed prefix it
    lies under. Refused: no prefix allowed, options or a fragment in ``uri``, a ``.`` or ``..``
    segment or an empty one, and anything not under an allowed prefix."""
    if not prefixes:
        raise StorageUriRefused(
            "this server reads no videos from storage: an admin lists the allowed prefixes in "
            "TAGGER_API_STORAGE_PREFIXES"
        )
    if "?" in uri or "#" in uri:
        raise StorageUriRefused(
            f"{uri!r}: give the object's URI without options (the server adds the prefix's own)"
        )
    _, separator, path = uri.partition("://")
    segments = path.split("/")
    if not separator or any(segment in ("", ".", "..") for segment in segments):
        raise StorageUriRefused(f"{uri!r} is not an object's URI (scheme://bucket/key)")
    for prefix in prefixes:
        base, _, options = prefix.partition("?")
        if uri.startswith(base.rstrip("/") + "/"):
            return f"{uri}?{options}" if options else uri
    bases = ", ".join(prefix.partition("?")[0] for prefix in prefixes)
    raise StorageUriRefused(f"{uri!r} is not under an allowed prefix ({bases})")


def receive_from_storage(
    db: Database,
    *,
    uri: str,
    title: str,
    description: str,
    settings: Settings,
    user: Actor | None,
    external_id: str | None = None,
) -> StoredUpload:
    """Read the object at ``uri`` and store and register it as an upload (processing is left to
    a background job, as for an upload). :class:`StorageUriRefused` for a URI not allowed,
    :class:`UploadRejected` for no object there, :class:`UploadTooLarge` before reading an
    object past the upload limit, :class:`StorageError` when the storage cannot be reached or
    read."""
    store = open_store(allowed_uri(uri, settings.storage_prefixes), role="video")
    try:
        found = store.filesystem.get_file_info(store.root)
    except OSError as e:
        raise StorageError(f"cannot read {uri}: {' '.join(str(e).split())}") from e
    if found.type == fs.FileType.NotFound:
        raise UploadRejected(f"no object at {uri}")
    if found.type != fs.FileType.File:
        raise UploadRejected(f"{uri} is not an object (a folder?)")
    if found.size > settings.max_upload_mb * 1024 * 1024:
        raise UploadTooLarge(
            f"{uri} has {found.size:,} bytes, over the {settings.max_upload_mb} MB upload limit"
        )
    with store.filesystem.open_input_stream(store.root) as stream:
        return receive_upload(
            db,
            data=_Reading(stream, uri),
            filename=PurePosixPath(store.root).name,
            title=title,
            description=description,
            settings=settings,
            user=user,
            external_id=external_id,
        )


class _Reading:
    """The object's stream, whose read errors say which object (a local write's error, a full
    disk, stays what it is)."""

    def __init__(self, stream: BinaryIO, uri: str) -> None:
        self.stream = stream
        self.uri = uri

    def read(self, size: int) -> bytes:
        try:
            return self.stream.read(size)
        except OSError as e:  # the connection broke off: the upload is not registered
            raise StorageError(f"cannot read {self.uri}: {' '.join(str(e).split())}") from e
