"""``python -m scripts ARGS``: the ``tagger`` command line without relying on the console script
being on PATH (background job workers are started this way)."""

from scripts.cli import app

app(prog_name="tagger")
