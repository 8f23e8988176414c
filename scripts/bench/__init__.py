"""Benchmarks: the product suite (``python -m scripts.bench.suite``), its sections, and stand-alone
measurements (HMC datasets, the training step, DuckDB sessions, ImageBind). Run them as modules
(``python -m scripts.bench.NAME``)."""
