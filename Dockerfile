# FileStream image: `docker build -t filestream .` then
# `docker run --env-file .env -p 8080:8080 -v filestream-data:/data filestream`.
# Python matches the project's (tests/test_dockerfile.py checks it).

# Build stage: compilers only live here, so the image that runs stays small.
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY requirements.txt requirements-dev.txt ./
# tgcrypto (AES-IGE in C) is built from source when no wheel fits; every dependency
# becomes a wheel here and is installed without compilers below.
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt
# The embedded database (used when DATABASE_URL is empty) is SecantusDB, a separate
# GPL-2.0 program FileStream runs as a child process. Build with
# --build-arg EMBEDDED_DB=false for an image that always talks to an external MongoDB.
ARG EMBEDDED_DB=true
RUN if [ "$EMBEDDED_DB" = "true" ]; then \
      pip wheel --no-cache-dir --wheel-dir /wheels "$(grep -E '^secantusdb' requirements-dev.txt | cut -d'#' -f1 | tr -d ' ')"; \
    fi

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data/db \
    SESSION_DIR=/data/sessions
COPY --from=build /wheels /wheels
# ffmpeg plays in the browser what browsers cannot open as stored (MKV, AC-3 sound,
# subtitles): each conversion runs it as a child process (REMUX_MAX).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ffmpeg \
 && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir --no-index --find-links /wheels /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin filestream \
 && mkdir -p /app /data/db /data/sessions \
 && chown -R filestream:filestream /data
WORKDIR /app
COPY FileStream ./FileStream
COPY migrate_files.py ./
USER filestream
# Bot sessions and the embedded database must outlive the container.
VOLUME ["/data"]
EXPOSE 8080
# Slim images have no curl; the standard library does the check. PORT may be changed at
# run time, so the check follows it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "FileStream"]
