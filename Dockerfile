# The aiexpense service: `docker build -t aiexpense-exporter .`
# Used by docker-compose.yml; see docs/stack.md and docs/deployment.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs: no .venv, tests or local data end up in the image.
COPY pyproject.toml README.md ./
COPY exporter ./exporter
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin aiexpense

USER aiexpense
EXPOSE 8080

# Liveness only: /monitoring/live answers without any I/O (503 only if the event loop is
# stuck), so a database outage never marks the container unhealthy and gets it restarted.
# The image has no curl; Python's urllib raises on a 503, which exits non-zero.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/monitoring/live', timeout=2)"]

# Exec form: the server is PID 1 and receives SIGTERM itself, so it can flip readiness to
# 503, finish in-flight requests, drain the job queue and close the pool before it exits.
CMD ["exporter", "serve", "--host", "0.0.0.0", "--port", "8080"]
