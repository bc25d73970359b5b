# The aiexpense service: `docker build -t aiexpense-exporter .`
# Used by docker-compose.yml and deploy/kubernetes/; see docs/stack.md and docs/deployment.md.
#
# A full version tag, so a rebuild gets the same Python and Debian (a digest would pin it
# harder; move the tag on purpose, with the lock file below).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# --- build: the locked dependencies, then the two distributions of this repo ------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
# Exact versions and hashes (requirements.lock, from requirements.in by `make lock`): a
# package whose file differs from the one locked fails the build. Runtime dependencies
# only, plus setuptools to build the two distributions below.
COPY requirements.lock /tmp/requirements.lock
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r /tmp/requirements.lock

COPY pyproject.toml README.md /src/
COPY exporter /src/exporter
COPY service /src/service
# --no-build-isolation: build with the locked setuptools instead of fetching one unpinned
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation /src /src/service \
    && /opt/venv/bin/pip uninstall --yes setuptools

# --- runtime: the virtual environment and an unprivileged, numeric user ----------------
FROM ${PYTHON_IMAGE}

# Listen on every interface inside the container; EXPORTER_PORT (or --port) still chooses
# the port, as everywhere else.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    EXPORTER_HOST=0.0.0.0

COPY --from=build /opt/venv /opt/venv
RUN groupadd --gid 10001 aiexpense \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin aiexpense

WORKDIR /app
# Numeric, so the kubelet can verify runAsNonRoot without reading /etc/passwd; the same
# uid:gid as deploy/kubernetes/ (runAsUser/runAsGroup). The root filesystem may be
# read-only: the service writes only under /tmp.
USER 10001:10001
EXPOSE 8080

# Liveness only: /monitoring/live answers without any I/O (503 only if the event loop is
# stuck), so a database outage never marks the container unhealthy and gets it restarted.
# The image has no curl; Python's urllib raises on a 503, which exits non-zero.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/monitoring/live', timeout=2)"]

# Exec form: the server is PID 1 and receives SIGTERM itself, so it can flip readiness to
# 503, finish in-flight requests, drain the job queue and close the pool before it exits.
CMD ["exporter", "serve"]
