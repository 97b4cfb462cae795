# syntax=docker/dockerfile:1
#
# CreatorFlow in one container: the service with its embedded SQLite store in the /data volume.
#
#   docker build -t creatorflow .
#   docker run --rm -p 8080:8080 -v creatorflow-data:/data \
#       -e CREATORFLOW_API_TOKEN=<long random token> \
#       -e CREATORFLOW_TIKTOK_APP_KEY=<app key> -e CREATORFLOW_TIKTOK_APP_SECRET=<app secret> \
#       creatorflow
#
# The service binds 0.0.0.0 here (a container's loopback is unreachable from outside), and it
# REFUSES TO START on a non-loopback bind without CREATORFLOW_API_TOKEN: always pass one.
# Every setting is an environment variable (CREATORFLOW_*, see README) or a TOML file given
# with `--config` (e.g. mount one and run `serve --config /etc/creatorflow.toml`); the
# shipped, commented defaults are in /app/config. Postgres and Redis instead of the embedded
# store: CREATORFLOW_DATABASE_URL=postgresql://... CREATORFLOW_REDIS_URL=redis://...
# Other commands: `docker run --rm creatorflow check-config`, `... migrate`, `... dlq list`.

# ---------------------------------------------------------------- build: a venv with the package
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# Runtime dependencies only (no [test] extras); every native dependency ships a wheel.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

# ---------------------------------------------------------------- runtime
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    CREATORFLOW_HTTP_HOST=0.0.0.0 \
    CREATORFLOW_HTTP_PORT=8080 \
    CREATORFLOW_DATA_DIR=/data

# A fixed non-root uid, so a bind-mounted /data can be chowned to 10001 on the host.
RUN groupadd --system --gid 10001 creatorflow \
 && useradd --system --uid 10001 --gid creatorflow --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin creatorflow \
 && mkdir -p /app /data \
 && chown creatorflow:creatorflow /data

COPY --from=build /opt/venv /opt/venv
COPY config /app/config

WORKDIR /app
USER creatorflow
VOLUME ["/data"]
EXPOSE 8080

# slim has no curl: probe /healthz with the standard library (urlopen raises on non-2xx).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CREATORFLOW_HTTP_PORT', '8080'), timeout=4)"]

# SIGTERM starts the graceful shutdown (503 new work, drain mailboxes, flush the store).
STOPSIGNAL SIGTERM
ENTRYPOINT ["creatorflow"]
CMD ["serve"]
