"""The generated set at work: a real Prometheus scraping the running FastAPI example with the
rules generated from examples/monitoring.toml, a real Alertmanager with the generated route.
Every dashboard query returns data; the error-budget page fires when the example's outage
switch is on, reaches the page receiver, and resolves after the switch is off.

The rules are the generator's at ``scale=1/60`` (an hour of window in a minute, every ``for``
likewise) with a 1 s scrape and evaluation, so the test takes about a minute.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from exporter.assets import generate, parse_spec, write
from exporter.assets.lint import queries
from tests.kit.assets.helpers import EXAMPLE_SPEC, ROOT
from tests.support import (
    Prometheus,
    Sink,
    daemon,
    free_port,
    prometheus_daemon,
    require_tool,
    running,
    sink_app,
    wait_until,
)

pytestmark = pytest.mark.slow
SCALE = 1 / 60
EXAMPLE_APP = ROOT / "examples" / "fastapi_app.py"


@contextlib.contextmanager
def alertmanager(directory: Path, config: dict[str, Any], sink_url: str) -> Iterator[str]:
    """The generated configuration, its receivers posting to the sink, its waits short."""
    binary = require_tool("prometheus-alertmanager")
    for receiver in config["receivers"]:
        if receiver["name"] != "default":
            receiver["webhook_configs"] = [
                {"url": f"{sink_url}/alertmanager/{receiver['name']}", "send_resolved": True}
            ]

    def fast(route: dict[str, Any]) -> None:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
        for child in route.get("routes", []):
            fast(child)

    fast(config["route"])
    directory.mkdir(parents=True)
    (directory / "alertmanager.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={directory / 'alertmanager.yml'}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address={urlsplit(url).netloc}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    with daemon(args, directory / "alertmanager.log", f"{url}/-/ready"):
        yield url


@contextlib.contextmanager
def traffic(base_url: str) -> Iterator[None]:
    """Orders requested steadily until the block ends."""
    stop = threading.Event()

    def loop() -> None:
        with httpx.Client(base_url=base_url, timeout=5) as client:
            while not stop.is_set():
                client.get("/orders/7")
                stop.wait(0.01)

    thread = threading.Thread(target=loop, name="orders-traffic", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def burn_page(sink: Sink, status: str) -> list[dict[str, Any]]:
    return [
        a
        for n, a in sink.alerts("ErrorBudgetBurn", status)
        if n["_path"] == "shop-pager" and a["labels"].get("long_window") == "1h"
    ]


def fresh_example() -> ModuleType:
    """examples/fastapi_app.py as a module of its own: its collector and health checker are
    module state, and a server's shutdown leaves the checker refusing readiness for good, so
    this test must not share them with tests/kit/test_example.py."""
    loader = importlib.util.spec_from_file_location("shop_example_e2e", EXAMPLE_APP)
    assert loader is not None and loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    return module


def test_the_error_budget_page_fires_reaches_the_pager_and_resolves(tmp_path):
    example = fresh_example()
    app, outage = example.app, example.outage

    spec = parse_spec(tomllib.loads(EXAMPLE_SPEC.read_text()))
    files = generate(spec, scale=SCALE)
    write(files, tmp_path / "set")
    rules = tmp_path / "set" / "prometheus"
    sink = Sink()
    outage.on = False
    with (
        running(sink_app(sink)) as sink_url,
        running(app) as app_url,
        alertmanager(
            tmp_path / "am", yaml.safe_load(files["alertmanager/alertmanager.yml"]), sink_url
        ) as am_url,
        traffic(app_url),
    ):
        sink.url = sink_url
        config = {
            "global": {
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "evaluation_interval": "1s",
            },
            "rule_files": [str(rules / "recording.rules.yml"), str(rules / "alerts.rules.yml")],
            "scrape_configs": [
                {"job_name": spec.job, "static_configs": [{"targets": [urlsplit(app_url).netloc]}]}
            ],
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [urlsplit(am_url).netloc]}]}]
            },
        }
        with prometheus_daemon(config, tmp_path / "prometheus") as url:
            prom = Prometheus(url)
            # healthy: every window has data, and so does every dashboard query
            wait_until(
                lambda: prom.query('job:shop_slo_availability_burn_rate:rate3d{job="shop"}'),
                timeout=30,
            )
            dashboard = json.loads(files["grafana/shop-overview.json"])
            found = queries(dashboard, {"job": spec.job}, rate_interval="4s", range_="1m")
            assert len(found) >= 20

            def empty() -> list[str]:
                return [
                    f"{q.panel} {q.ref_id}: {q.promql}" for q in found if not prom.query(q.promql)
                ]

            wait_until(lambda: not empty(), timeout=30, interval=0.5)
            assert prom.firing("ErrorBudgetBurn") == []

            outage.on = True
            try:
                wait_until(lambda: burn_page(sink, "firing"), timeout=60, interval=0.2)
            finally:
                outage.on = False
            (page,) = burn_page(sink, "firing")[:1]
            assert page["labels"]["severity"] == "page" and page["labels"]["team"] == "shop"
            assert page["annotations"]["runbook_url"] == f"{spec.runbook_url}#errorbudgetburn"
            started = time.monotonic()
            wait_until(lambda: burn_page(sink, "resolved"), timeout=60, interval=0.2)
            assert time.monotonic() - started < 60
