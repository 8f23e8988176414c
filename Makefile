# Two entry points for a fresh machine (see README):
#   make demo   install everything, build the demo corpus and model, start the dashboard
#   make test   install everything and run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := espeak-ng sox postgresql chromium fonts-noto-color-emoji tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Test workers: one per core, at most 2 (each worker loads torch and the models; modules that
# keep to one worker share an xdist_group, hence --dist loadgroup).
TEST_WORKERS ?= $(shell n=$$(nproc); echo $$(( n < 2 ? n : 2 )))

.PHONY: demo test test-fast install system-deps lint bench clean-demo

demo: install
	$(BIN)/tagger demo

# Lint first (seconds), then every test in parallel; the 15 slowest are listed at the end.
test: install lint
	$(BIN)/python -m pytest -m "slow or not slow" -p no:cacheprovider \
		-n $(TEST_WORKERS) --dist loadgroup --durations=15

test-fast: install
	$(BIN)/python -m pytest -q

install: system-deps $(STAMP)

# Debian packages: espeak-ng (demo narration, speech tests), sox, PostgreSQL (db tests run on
# both engines), Chromium (browser end-to-end test). Skipped when everything is already there.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

# The virtual environment, rebuilt only when pyproject.toml changes. imagebind-unofficial and
# openai-whisper go in with --no-deps: their metadata pulls pytorchvideo/decord and triton, which
# the product never imports; their real runtime needs are declared in pyproject.toml.
# --no-compile: pip would byte-compile all 24,000 modules of the 7.9 GB of packages (40 s of a
# fresh install); the product and its tests import a third of them, each compiled once by the
# first process that imports it (below).
$(STAMP): pyproject.toml
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --no-compile --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q --no-compile -e '.[dev]'
	$(BIN)/python -m pip install -q --no-compile --no-deps imagebind-unofficial==0.1.1 openai-whisper==20250625
	touch $(STAMP)

# Byte-code is written by whatever runs from here, even where the environment turns that off: the
# install leaves it to the first import, and without it every process (a test's server, a Ray
# worker, a CLI call) would compile the product and its packages again.
unexport PYTHONDONTWRITEBYTECODE

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python -m scripts.bench.suite

# What `tagger demo` leaves in the default data dir: its corpus, the database, the stored media and
# thumbnails, the model files and the job logs. `make demo` rebuilds it all.
clean-demo:
	rm -rf data/demo-corpus data/tagger.duckdb data/tagger.duckdb.wal data/media data/thumbnails data/models \
		data/jobs
