"""Test helpers: real servers, no mocks."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
import yaml
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class Database:
    server_url: str
    name: str

    @property
    def url(self) -> str:
        params = conninfo_to_dict(self.server_url)
        params["dbname"] = self.name
        return make_conninfo(**params)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, *, port: int | None = None, lifespan: str = "on", **options) -> Iterator[str]:
    """Serve ``app`` with a real uvicorn on a loopback port in a thread; yield its base URL.
    ``options``: more ``uvicorn.Config`` arguments."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan=lifespan,
                            log_level="warning", **options)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited before it started")
        if time.monotonic() > deadline:
            raise TimeoutError("uvicorn did not start within 30s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# The Debian package that brings each tool, for the message when one is missing.
DEBIAN_PACKAGES = {
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "docker-compose": "docker-compose",
    "chromium": "chromium",
    "chromedriver": "chromium-driver",
    "wrk": "wrk",
}


def require_tool(name: str) -> str:
    """The path of a command-line tool; in CI a missing tool fails, elsewhere it skips."""
    path = shutil.which(name)
    if path:
        return path
    message = (
        f"{name} not found on PATH (Debian: apt-get install {DEBIAN_PACKAGES.get(name, name)})"
    )
    if IN_CI:
        pytest.fail(f"{message}; CI must install it: see .ci/run")
    pytest.skip(message)


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM ``process`` (a server under test), then SIGKILL it if it is not gone in 30 s."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll ``predicate`` until it returns something truthy; return that, or fail."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


async def async_wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


# -- Prometheus, Alertmanager and their receiver, as real processes ------------------------

ROOT = Path(__file__).resolve().parents[1]
RECORDING_RULES = ROOT / "alerts" / "recording.rules.yml"
ALERTING_RULES = ROOT / "alerts" / "alerts.rules.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
JOB = "aiexpense"  # the scrape job the rules and dashboards expect
SCRAPE = 1  # seconds: scrape and rule evaluation interval
# Alertmanager's routing tree is deploy/alertmanager/alertmanager.yml, with these waits on
# every route that sets them and the receivers' URLs pointed at the test's receiver.
FAST_ROUTE_TIMINGS = {"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h"}
TELEGRAM_SECRET = "e2e-telegram-secret"
TELEGRAM_BOT_TOKEN = "4242:e2e-bot-token"


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@contextlib.contextmanager
def daemon(args: list[str], log: Path, ready_url: str, timeout: float = 20) -> Iterator[None]:
    """Run ``args`` until the block ends (terminate, then kill); wait for ``ready_url``."""
    name = Path(args[0]).name
    if shutil.which("setpriv"):
        # Finalizers do not run when pytest itself is killed (a CI timeout's SIGTERM): the
        # kernel then sends the daemon SIGTERM as its parent dies (util-linux's setpriv).
        args = ["setpriv", "--pdeathsig", "TERM", "--", *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{name} exited with {proc.returncode}:\n{log_tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"{name} not ready within {timeout}s:\n{log_tail(log)}")
            time.sleep(0.05)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Sink:
    """What the test's receiver has been sent: Alertmanager's notifications and Telegram
    ``sendMessage`` calls (answered after ``reply_delay`` seconds: a slow platform)."""

    url: str = ""
    notifications: list[dict[str, Any]] = field(default_factory=list)  # + "_path"
    replies: list[dict[str, Any]] = field(default_factory=list)
    reply_delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self, alertname: str, status: str) -> list[tuple[dict, dict]]:
        """(notification, alert) pairs for ``alertname`` whose alert has ``status``."""
        with self.lock:
            found = list(self.notifications)
        return [
            (n, a)
            for n in found
            for a in n.get("alerts", [])
            if a["labels"].get("alertname") == alertname and a.get("status") == status
        ]


def sink_app(sink: Sink) -> Starlette:
    async def notification(request: Request) -> JSONResponse:
        payload = await request.json()
        payload["_path"] = request.path_params["channel"]
        with sink.lock:
            sink.notifications.append(payload)
        return JSONResponse({})

    async def send_message(request: Request) -> JSONResponse:
        if request.path_params["token"] != TELEGRAM_BOT_TOKEN:
            return JSONResponse({"ok": False, "description": "Unauthorized"}, status_code=401)
        payload = await request.json()
        with sink.lock:  # recorded on arrival: a sender that dies meanwhile still sent it
            sink.replies.append(payload)
            n = len(sink.replies)
        await asyncio.sleep(sink.reply_delay)
        return JSONResponse({"ok": True, "result": {"message_id": n}})

    return Starlette(
        routes=[
            Route("/alertmanager/{channel}", notification, methods=["POST"]),
            Route("/telegram/bot{token}/sendMessage", send_message, methods=["POST"]),
        ]
    )


def render_alerting_rules(
    directory: Path, fors: dict[str, str], source: Path = ALERTING_RULES
) -> Path:
    """The rule file ``source`` (alerts.rules.yml unless told) with the ``for`` of the alerts
    named in ``fors`` shortened (a test cannot wait minutes per transition), written under
    its own name into ``directory``; every other rule is the production file's."""
    rules = yaml.safe_load(source.read_text())
    found = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in fors:
                rule["for"] = fors[rule["alert"]]
                found.add(rule["alert"])
    assert found == set(fors), set(fors) - found
    path = directory / source.name
    path.write_text(yaml.safe_dump(rules, sort_keys=False, width=1000))
    return path


@dataclass(frozen=True)
class Prometheus:
    url: str

    def api(self, path: str, **params: Any) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = response.json()
        assert body.get("status") == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        return self.api("query", **params)["result"]

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        return self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{SCRAPE}s"
        )["result"]

    def firing(self, alertname: str) -> list[dict[str, Any]]:
        return [
            a
            for a in self.api("alerts")["alerts"]
            if a["labels"]["alertname"] == alertname and a["state"] == "firing"
        ]


@contextlib.contextmanager
def prometheus_daemon(config: dict, directory: Path, *flags: str) -> Iterator[str]:
    """Debian's Prometheus with ``config`` on a free loopback port, its files and data in
    ``directory``, extra command-line ``flags``; yields its URL once it is ready."""
    binary = require_tool("prometheus")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={directory / 'prometheus.yml'}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address={urlsplit(url).netloc}",
        "--log.level=warn",
        *flags,
    ]
    with daemon(args, directory / "prometheus.log", f"{url}/-/ready"):
        yield url


@contextlib.contextmanager
def prometheus_process(
    directory: Path,
    targets: Sequence[str],
    alerting_rules: Sequence[Path],
    alertmanager: str | None = None,
    target_labels: Sequence[dict[str, str]] | None = None,
) -> Iterator[Prometheus]:
    """A Prometheus in ``directory`` scraping ``targets`` (base URLs) as job ``JOB`` every
    ``SCRAPE`` s with the recording rules and ``alerting_rules``; up once every target is.
    ``target_labels``, one mapping per target: labels put on every series of that target,
    as a ServiceMonitor's relabelling puts a pod's ``track`` on its series."""
    labels = list(target_labels) if target_labels is not None else [{} for _ in targets]
    assert len(labels) == len(targets), (targets, labels)
    static_configs = [
        {"targets": [urlsplit(t).netloc], **({"labels": dict(ls)} if ls else {})}
        for t, ls in zip(targets, labels, strict=True)
    ]
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{SCRAPE}s",
            "scrape_timeout": f"{SCRAPE}s",
            "evaluation_interval": f"{SCRAPE}s",
        },
        "rule_files": [str(RECORDING_RULES), *map(str, alerting_rules)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "metrics_path": "/metrics",
                "static_configs": static_configs,
            }
        ],
    }
    if alertmanager:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [urlsplit(alertmanager).netloc]}]}]
        }
    with prometheus_daemon(config, directory) as url:
        prometheus = Prometheus(url)
        up = f'count(up{{job="{JOB}"}} == 1) == {len(targets)}'
        wait_until(lambda: prometheus.query(up), timeout=15)
        yield prometheus


def render_alertmanager_config(sink_url: str) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml, fast, its receivers posting to ``sink_url``."""
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())

    def speed_up(route: dict[str, Any], root: bool) -> None:
        for key, value in FAST_ROUTE_TIMINGS.items():
            if root or key in route:
                route[key] = value
        for child in route.get("routes", []):
            speed_up(child, root=False)

    speed_up(config["route"], root=True)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook.get("send_resolved") is True, receiver["name"]
            hook["url"] = f"{sink_url}/alertmanager{urlsplit(hook['url']).path}"
    return config


@contextlib.contextmanager
def alertmanager_process(directory: Path, sink_url: str) -> Iterator[str]:
    """A private Alertmanager in ``directory`` (the repository's routing tree, fast); its URL."""
    binary = require_tool("prometheus-alertmanager")
    directory.mkdir(parents=True)
    config = directory / "alertmanager.yml"
    config.write_text(yaml.safe_dump(render_alertmanager_config(sink_url), sort_keys=False))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address={urlsplit(url).netloc}",
        "--cluster.listen-address=",  # no gossip port: a single, private instance
        "--log.level=warn",
    ]
    with daemon(args, directory / "alertmanager.log", f"{url}/-/ready"):
        yield url


# The health checker judges the memory of the process it runs in: in a test, the pytest
# process, which grows past the 300 MB default over a full run. Tests that are not about
# memory use these thresholds, so their verdicts do not depend on what ran before them.
ROOMY_MEMORY = {"memory_degraded_mb": 1_000_000.0, "memory_unhealthy_mb": 2_000_000.0}


def thresholds(**overrides):
    """The kit's Thresholds with room for the test process's memory (``overrides`` win)."""
    from exporter import Thresholds

    return Thresholds(**{**ROOMY_MEMORY, **overrides})
