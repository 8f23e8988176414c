"""Cheap, stable fingerprints of model files for encoder ``version`` strings.

Hashing a multi-gigabyte checkpoint on every start would dominate start-up, so a weight file
is identified by its size plus the SHA-256 of its first and last MiB. Replaced weights change
at least one of those in practice; small config files are hashed in full.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from core.errors import MissingFileError

_EDGE_BYTES = 1 << 20


def file_fingerprint(path: Path) -> str:
    """Hex digest of a file's size, head and tail."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(_EDGE_BYTES))
        if size > _EDGE_BYTES:
            handle.seek(max(size - _EDGE_BYTES, _EDGE_BYTES))
            digest.update(handle.read())
    return digest.hexdigest()


def dir_fingerprint(directory: Path) -> str:
    """Hex digest over every file below ``directory`` (relative names included)."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise MissingFileError(f"no model files under {directory}")
    digest = hashlib.sha256()
    for path in files:
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(file_fingerprint(path).encode())
    return digest.hexdigest()


def combine(*parts: str, length: int = 16) -> str:
    """Short digest of several version parts, order-sensitive."""
    digest = hashlib.sha256("\x1f".join(parts).encode())
    return digest.hexdigest()[:length]
