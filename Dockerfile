# CPU image of the dashboard (and the `tagger` CLI). Build:  docker build -t video-tagger .
# Run:    docker run -p 8501:8501 -v tagger-data:/data video-tagger
# Demo:   docker run -p 8501:8501 -v tagger-data:/data video-tagger tagger demo --host 0.0.0.0
FROM python:3.11-slim-bookworm

# espeak-ng: speech for the demo corpus; tesseract-ocr (+eng, rus): on-screen text of keyframes.
# Versions are not pinned: a Debian point release replaces them on the mirror and a pinned version
# would stop installing; the base image already fixes the release (bookworm).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        espeak-ng tesseract-ocr tesseract-ocr-eng tesseract-ocr-rus \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# CPU wheels of torch first, so the project install below doesn't pull the CUDA build.
RUN pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu \
        torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0

COPY pyproject.toml README.md ./
COPY core ./core
COPY db ./db
COPY dashboard ./dashboard
COPY scripts ./scripts
RUN pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps imagebind-unofficial==0.1.1 openai-whisper==20250625

ENV TAGGER_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
VOLUME ["/data"]
EXPOSE 8501
# liveness: the server answers and its background threads run (503 when one stopped)
HEALTHCHECK CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/api/v1/health')"]
CMD ["tagger", "serve", "--host", "0.0.0.0", "--port", "8501"]
