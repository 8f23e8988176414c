"""An S3-compatible endpoint for the tests: moto's server on a loopback port the kernel picks, so
object storage is tested without the internet. Moto accepts any credentials; the dummy ones below
keep the AWS SDK from looking for real ones (``CREDENTIALS`` also goes to Ray nodes' workers)."""

from __future__ import annotations

import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pyarrow import fs

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups (seconds each)
}


@dataclass(frozen=True)
class S3Endpoint:
    """A running endpoint at ``host:port`` (plain HTTP)."""

    host: str
    port: int

    def uri(self, path: str) -> str:
        """A ``ray_data_uri`` for ``bucket/prefix`` on this endpoint, in pyarrow's URI form."""
        return f"s3://{path}?endpoint_override={self.host}:{self.port}&scheme=http"

    def create_bucket(self, bucket: str) -> None:
        filesystem, _ = fs.FileSystem.from_uri(f"{self.uri(bucket)}&allow_bucket_creation=true")
        filesystem.create_dir(bucket)


@contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    """Moto's S3 server in a thread of this process, emptied and stopped on exit (moto keeps its
    buckets in this process's memory, so the next endpoint would see them)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield S3Endpoint(host, port)
    finally:
        reset = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        server.stop()


@contextmanager
def counted_gets() -> Iterator[Counter[str]]:
    """Count the GetObject requests (object downloads) moto's server answers, per
    ``bucket/key``, while inside: the server runs in this process, so its handler is wrapped."""
    from moto.s3.responses import S3Response

    gets: Counter[str] = Counter()
    answer = S3Response.get_object

    def counted(response: S3Response) -> object:
        gets[f"{response.bucket_name}/{response.parse_key_name()}"] += 1
        return answer(response)

    S3Response.get_object = counted
    try:
        yield gets
    finally:
        S3Response.get_object = answer
