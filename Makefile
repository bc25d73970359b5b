# Two commands a newcomer runs: `make run` and `make test`. Both bootstrap .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# `make run PORT=9000 HOST=0.0.0.0` passes --port/--host; without them the service reads
# EXPORTER_PORT/EXPORTER_HOST (then 8080, 127.0.0.1). Only make's command line counts: a PORT
# or HOST that happens to be in the shell's environment is not passed on.
given = $(if $(filter command line,$(origin $(1))),$(2) $($(1)))

.PHONY: run test bench lint format assets assets-check dashboards manifests lock clean

# The kit (.) and the service (service/) are two distributions; a newcomer gets both, with the
# embedded PostgreSQL, the benchmark suite (bench/, a tool of its own) and the test tools.
$(STAMP): pyproject.toml service/pyproject.toml bench/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[otel,assets]' -e './service[embedded,dev]' -e ./bench
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/exporter serve $(call given,HOST,--host) $(call given,PORT,--port)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/aiexpense-bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every ops asset (alerts/, grafana/dashboards/, docs/runbooks.md, the PrometheusRule and
# ServiceMonitor, the Alertmanager config) from service/monitoring.toml and the service's own
# extension (service/aiexpense/ops/). Commit the result; never edit the files by hand.
ASSETS := $(BIN)/exporter-assets service/monitoring.toml -o . --extension aiexpense.ops:EXTENSIONS
assets: $(STAMP)
	$(ASSETS)

# exit 1 if a committed asset is not what the spec gives (tests/stack runs the same check)
assets-check: $(STAMP)
	$(ASSETS) --check

# the old names: one generator makes both now
dashboards manifests: assets

# requirements.lock (the image's exact versions, with hashes) from requirements.in; uv is a
# maintainer's tool, installed on demand, not a dependency of the project
UV_VERSION := 0.13.9
lock: $(STAMP)
	$(BIN)/pip install --quiet 'uv==$(UV_VERSION)'
	$(BIN)/uv pip compile requirements.in --generate-hashes --python-version 3.11 \
	  --no-emit-package aiexpense-exporter --no-emit-package aiexpense-service \
	  --custom-compile-command 'make lock' --quiet -o requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info service/build service/*.egg-info
