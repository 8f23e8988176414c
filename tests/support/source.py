"""Reading the project's own source as syntax trees, for the tests that check its structure."""

from __future__ import annotations

import ast
from pathlib import Path

_TRIES = 3


def parse_file(path: Path) -> ast.Module:
    """``ast.parse`` of ``path``, parsed again when CPython 3.11 reports its AST constructor
    recursion-depth race (cpython gh-106905): a thread of another library in the same test
    worker (Ray's driver threads, Streamlit's script runner) building syntax trees at the same
    moment leaves the interpreter's shared counter off; the file itself is fine."""
    source = path.read_text(encoding="utf-8")
    for _ in range(_TRIES - 1):
        try:
            return ast.parse(source, filename=str(path))
        except SystemError as e:
            if "recursion depth mismatch" not in str(e):
                raise
    return ast.parse(source, filename=str(path))
