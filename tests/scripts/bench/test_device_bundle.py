"""The offline GPU machine's bundle: which libraries travel with tesseract, and pieces that put
back together give the bundle byte for byte."""

from __future__ import annotations

from pathlib import Path

from scripts.bench.device_bundle import SETUP, linked_libraries, split

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibtesseract.so.5 => /lib/x86_64-linux-gnu/libtesseract.so.5 (0x00007f1)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f2)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3)
\tlibicuuc.so.72 => /lib/x86_64-linux-gnu/libicuuc.so.72 (0x00007f4)
\tlibmissing.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f5)
"""


def test_the_c_runtime_stays_behind_and_everything_else_travels() -> None:
    assert [path.name for path in linked_libraries(LDD)] == [
        "libtesseract.so.5",
        "libicuuc.so.72",
    ]


def test_the_pieces_put_together_are_the_bundle(tmp_path) -> None:
    whole = tmp_path / "bundle.tar"
    whole.write_bytes(bytes(range(256)) * 41)  # 10,496 bytes
    out = tmp_path / "out"
    out.mkdir()
    pieces = split(whole, out, 4096)
    assert [piece.name for piece in pieces] == ["p_00", "p_01", "p_02"]
    assert [piece.stat().st_size for piece in pieces] == [4096, 4096, 2304]
    assert b"".join(Path(piece).read_bytes() for piece in pieces) == whole.read_bytes()
    assert "cat /tmp/stage/p_*" in SETUP  # the shell glob orders p_00..p_99 as split names them
