"""The local stack's configuration: docker-compose.yml, Prometheus, Alertmanager, Dockerfile.

No Docker engine is needed: Debian's docker-compose 1.29 validates and normalizes the file
offline, promtool and amtool check the Prometheus and Alertmanager configs. Outside CI a
missing tool skips the tests that need it; with CI=true it fails them.
"""

from __future__ import annotations

import fnmatch
import json
import posixpath
import re
import shutil
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
WEBHOOK_SINK = ROOT / "deploy" / "alertmanager" / "webhook_sink.py"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
LOCK = ROOT / "requirements.lock"
RULE_FILES = sorted(p.name for p in (ROOT / "alerts").glob("*.rules.yml"))
GRAFANA_PROVISIONING = ROOT / "grafana" / "provisioning"

APP = "aiexpense"  # the service's name in docker-compose.yml (and its host name there)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(args), cwd=ROOT, capture_output=True, text=True, check=False, env=env
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as docker-compose resolves it (defaults filled, paths absolute)."""
    tool = require_tool("docker-compose")
    result = run(tool, "-f", str(COMPOSE_FILE), "config")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """(host path, container path) of a service's bind mounts, in either syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, dict):
            if volume.get("type") == "bind":
                mounts.append((volume["source"], volume["target"]))
            continue
        source, target = volume.split(":")[:2]
        if source.startswith(("/", ".", "~")):
            mounts.append((source, target))
    return mounts


# --- docker-compose ---------------------------------------------------------------------


def test_compose_config_is_valid():
    tool = require_tool("docker-compose")
    result = run(tool, "-f", str(COMPOSE_FILE), "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_has_the_stack_services(compose):
    assert set(compose["services"]) == {
        APP,
        "postgres",
        "prometheus",
        "alertmanager",
        "grafana",
        "alert-sink",
    }


def test_every_bind_mounted_path_exists_in_the_repo(compose):
    mounts = [(name, m) for name, svc in compose["services"].items() for m in bind_mounts(svc)]
    assert mounts, "expected bind mounts of the configs"
    for service, (source, _target) in mounts:
        path = Path(source)
        assert path.is_relative_to(ROOT), f"{service} mounts {source} from outside the repo"
        assert path.exists(), f"{service} mounts {source}, which does not exist"


def test_app_is_built_here_and_waits_for_a_healthy_database(compose):
    app = compose["services"][APP]
    assert Path(app["build"]["context"]) == ROOT
    assert app["depends_on"]["postgres"]["condition"] == "service_healthy"
    url = app["environment"]["DATABASE_URL"]
    assert re.fullmatch(r"postgresql://aiexpense:[^@]+@postgres:5432/aiexpense", url), url
    assert any(p.endswith(":8080/tcp") or p.endswith(":8080") for p in map(str, app["ports"]))

    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


def test_database_password_reaches_both_sides_from_one_variable():
    env = {"PATH": "/usr/bin:/bin", "POSTGRES_PASSWORD": "s3cret-from-env"}
    result = run(require_tool("docker-compose"), "-f", str(COMPOSE_FILE), "config", env=env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret-from-env"
    assert ":s3cret-from-env@postgres:" in services[APP]["environment"]["DATABASE_URL"]


def test_grafana_is_provisioned_with_anonymous_viewers_and_admin_password_from_env(compose):
    grafana = compose["services"]["grafana"]
    env = grafana["environment"]
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "true"
    assert env["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert env["GF_SECURITY_ADMIN_PASSWORD"] == "admin"  # the default
    raw = raw_compose()["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    assert raw == "${GRAFANA_ADMIN_PASSWORD:-admin}"
    # the image matches the build of grafana-foundation-sdk the dashboards are made with
    assert re.fullmatch(r"grafana/grafana:11\.6\.\d+", grafana["image"]), grafana["image"]

    mounts = dict((target, Path(source)) for source, target in bind_mounts(grafana))
    assert mounts["/etc/grafana/provisioning"] == GRAFANA_PROVISIONING
    providers = yaml.safe_load((GRAFANA_PROVISIONING / "dashboards" / "aiexpense.yml").read_text())
    dashboards_path = providers["providers"][0]["options"]["path"]
    assert mounts[dashboards_path] == ROOT / "grafana" / "dashboards"
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (ROOT / "grafana" / "dashboards" / posixpath.relpath(home, dashboards_path)).exists()

    datasources = yaml.safe_load(
        (GRAFANA_PROVISIONING / "datasources" / "prometheus.yml").read_text()
    )
    url = datasources["datasources"][0]["url"]
    assert url == "http://prometheus:9090" and "prometheus" in compose["services"]


def test_published_ports_are_bound_to_localhost(compose):
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            text = port if isinstance(port, str) else f"{port.get('host_ip')}:{port}"
            assert str(text).startswith("127.0.0.1:"), f"{name} publishes {port} on all interfaces"


# --- Prometheus ---------------------------------------------------------------------------


def test_promtool_check_config_finds_the_rule_files():
    promtool = require_tool("promtool")
    result = run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert f"SUCCESS: {len(RULE_FILES)} rule files found" in out
    assert {"alerts.rules.yml", "recording.rules.yml"} == set(RULE_FILES)
    for name in RULE_FILES:
        assert name in out


def test_prometheus_finds_the_rules_inside_the_container_too(compose):
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    mounts = {
        target: Path(source) for source, target in bind_mounts(compose["services"]["prometheus"])
    }
    config_in_container = next(t for t, s in mounts.items() if s == PROMETHEUS_CONFIG)
    command = compose["services"]["prometheus"]["command"]
    assert f"--config.file={config_in_container}" in command
    for pattern in config["rule_files"]:
        in_container = posixpath.normpath(
            posixpath.join(posixpath.dirname(config_in_container), pattern)
        )
        directory, glob = posixpath.split(in_container)
        assert directory in mounts, f"{in_container}: {directory} is not mounted"
        matched = sorted(p.name for p in mounts[directory].glob(glob))
        assert matched == RULE_FILES, matched


def test_prometheus_scrapes_the_service_and_alerts_to_alertmanager(compose):
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    app = jobs["aiexpense"]  # the alert rules filter on this job name
    assert app.get("metrics_path", "/metrics") == "/metrics"
    assert app["static_configs"][0]["targets"] == [f"{APP}:8080"]
    assert APP in compose["services"]
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


# --- Alertmanager -------------------------------------------------------------------------


def test_amtool_check_config():
    amtool = require_tool("amtool")
    result = run(amtool, "check-config", str(ALERTMANAGER_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=page"], "pager"),
        (["severity=warning"], "tickets"),
        (["severity=ticket"], "tickets"),
        (["alertname=DatabaseDown", "severity=page"], "pager"),
        (["alertname=ErrorBudgetBurn", "severity=ticket", "long_window=3d"], "tickets"),
        (["alertname=NoSeverity"], "tickets"),  # a rule bug still reaches someone
    ],
)
def test_amtool_routes_each_severity_to_its_receiver(labels, receiver):
    # the generated route matches the service's alerts by job (every rule keeps it)
    amtool = require_tool("amtool")
    result = run(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={ALERTMANAGER_CONFIG}",
        "job=aiexpense",
        *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receiver


def test_alertmanager_groups_inhibits_and_delivers_to_the_sink(compose):
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    (team,) = config["route"]["routes"]
    assert team["matchers"] == ['job="aiexpense"']
    assert team["group_by"] == ["alertname", "severity", "job"]
    inhibit = config["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['job="aiexpense"', 'severity="page"']
    assert inhibit["target_matchers"] == ['job="aiexpense"', 'severity=~"warning|ticket"']
    assert "alertname" in inhibit["equal"]
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            assert hook["url"].startswith("http://alert-sink:9095/"), hook["url"]
            assert hook["send_resolved"] is True
    assert "alert-sink" in compose["services"]


def alertmanager_binary() -> str:
    # Debian installs the server as prometheus-alertmanager; upstream calls it alertmanager
    for name in ("prometheus-alertmanager", "alertmanager"):
        if path := shutil.which(name):
            return path
    return require_tool("prometheus-alertmanager")


def test_alertmanager_inhibits_tickets_and_warnings_while_the_same_alert_pages(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [
            alertmanager_binary(),
            f"--config.file={ALERTMANAGER_CONFIG}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",  # no gossip port: a single local instance
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        wait_for(f"{base}/status", server)
        alerts = [
            {"alertname": "ErrorBudgetBurn", "severity": "page", "long_window": "1h"},
            {"alertname": "ErrorBudgetBurn", "severity": "ticket", "long_window": "1d"},
            {"alertname": "HighMemory", "severity": "warning", "instance": "a"},
            {"alertname": "DatabaseDown", "severity": "page", "instance": "a"},
            {"alertname": "ServiceUnhealthy", "severity": "page", "instance": "a"},
            {"alertname": "ServiceUnhealthy", "severity": "page", "instance": "b"},
        ]
        body = json.dumps([{"labels": {"job": "aiexpense", **a}} for a in alerts]).encode()
        post = urllib.request.Request(
            f"{base}/alerts", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(post, timeout=5) as response:
            assert response.status == 200
        state: dict[tuple[str, str], str] = {}
        deadline = time.monotonic() + 5
        while len(state) < len(alerts) and time.monotonic() < deadline:
            time.sleep(0.1)
            with urllib.request.urlopen(f"{base}/alerts", timeout=5) as response:
                got = json.load(response)
            state = {
                (
                    a["labels"]["alertname"],
                    a["labels"].get("long_window") or a["labels"].get("instance"),
                ): a["status"]["state"]
                for a in got
            }
    finally:
        server.terminate()
        server.wait(timeout=5)
    assert state == {
        ("ErrorBudgetBurn", "1h"): "active",
        ("ErrorBudgetBurn", "1d"): "suppressed",  # the ticket, while the page fires
        ("HighMemory", "a"): "active",  # a different alert name: not inhibited
        ("DatabaseDown", "a"): "active",
        ("ServiceUnhealthy", "a"): "suppressed",  # caused by DatabaseDown on a
        ("ServiceUnhealthy", "b"): "active",
    }


def wait_for(url: str, process: subprocess.Popen, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} did not answer in {timeout}s"
            time.sleep(0.1)


# --- the webhook sink -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_webhook_sink_prints_each_alert_of_a_notification():
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-u", str(WEBHOOK_SINK), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening" in proc.stdout.readline()
        payload = {
            "version": "4",
            "status": "firing",
            "receiver": "pager",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "DatabaseDown", "severity": "page", "instance": "a"},
                    "annotations": {"summary": "db down", "runbook_url": "docs/runbooks.md#x"},
                    "startsAt": "2026-01-01T00:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                },
                {
                    "status": "resolved",
                    "labels": {"alertname": "DatabaseDown", "severity": "page", "instance": "b"},
                    "annotations": {"summary": "db down"},
                },
            ],
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/page",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    assert response.status == 200
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
    assert [(x["channel"], x["status"], x["labels"]["instance"]) for x in lines] == [
        ("page", "firing", "a"),
        ("page", "resolved", "b"),
    ]
    assert lines[0]["alertname"] == "DatabaseDown" and lines[0]["severity"] == "page"


# --- Dockerfile, .dockerignore and the lock file -------------------------------------------


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every ``name`` instruction, continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    return re.findall(rf"^{name} (.+)$", text, flags=re.MULTILINE)


def test_dockerfile_checks_liveness_only_and_runs_the_server_as_pid_1():
    (healthcheck,) = dockerfile_instructions("HEALTHCHECK")
    assert "/monitoring/live" in healthcheck
    assert "/monitoring/ready" not in healthcheck  # a DB outage must not kill it
    (cmd,) = dockerfile_instructions("CMD")
    assert json.loads(cmd) == ["exporter", "serve"]  # exec form; EXPORTER_PORT picks the port
    assert any("EXPORTER_HOST=0.0.0.0" in env for env in dockerfile_instructions("ENV"))


def test_dockerfile_base_image_is_a_pinned_python_version():
    (arg,) = [a for a in dockerfile_instructions("ARG") if a.startswith("PYTHON_IMAGE=")]
    image = arg.split("=", 1)[1]
    # a full version and a Debian release: never a moving tag like 3.11-slim or latest
    assert re.fullmatch(r"python:3\.11\.\d+-slim-(bookworm|trixie)", image), image
    assert dockerfile_instructions("FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]


def test_dockerfile_user_is_numeric_and_the_kubernetes_pods_run_as_it():
    (user,) = dockerfile_instructions("USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), f"USER {user}: runAsNonRoot needs a uid"
    uid, gid = map(int, user.split(":"))
    (useradd,) = [r for r in dockerfile_instructions("RUN") if "useradd" in r]
    assert f"--uid {uid}" in useradd and f"--gid {gid} " in useradd  # /etc/passwd agrees
    deployment = yaml.safe_load(
        (ROOT / "deploy" / "kubernetes" / "base" / "workload" / "deployment.yaml").read_text()
    )
    pod = deployment["spec"]["template"]["spec"]["securityContext"]
    assert (pod["runAsUser"], pod["runAsGroup"]) == (uid, gid)


def test_dockerfile_installs_the_lock_with_hashes_and_both_distributions_without_deps():
    runs = dockerfile_instructions("RUN")
    locked = [r for r in runs if "requirements.lock" in r]
    assert locked and all("--require-hashes" in r for r in locked), locked
    (local,) = [r for r in runs if "/src/service" in r]
    assert re.search(r"pip install --no-deps --no-build-isolation /src /src/service", local)
    # only files that exist are copied (the build context is the repo root)
    for line in dockerfile_instructions("COPY"):
        if line.startswith("--from="):
            continue
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern that matches decides; ``!`` lets a path back in, and
    a pattern matching a directory covers everything under it."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, f"*/{pattern.removeprefix('**/')}")
               for p in prefixes):  # fmt: skip
            ignored = not negate
    return ignored


def test_dockerignore_lets_in_only_what_the_image_copies():
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    patterns = [line for line in lines if line and not line.startswith("#")]
    copied = [
        source
        for line in dockerfile_instructions("COPY")
        if not line.startswith("--from=")
        for source in line.split()[:-1]
    ]
    for source in copied:
        files = [source] if (ROOT / source).is_file() else [
            str(p.relative_to(ROOT)) for p in (ROOT / source).rglob("*.py")
        ]  # fmt: skip
        assert files, source
        for path in files:
            assert not dockerignored(path, patterns), f"{path} is copied but .dockerignore drops it"
    for path in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", ".data/pg/x", ".env",
                 "exporter/__pycache__/x.cpython-311.pyc", "service/build/lib/x.py"):  # fmt: skip
        assert dockerignored(path, patterns), path


def locked_versions() -> dict[str, str]:
    text = LOCK.read_text()
    entries = re.split(r"\n(?=\S)", text.split("\n", 2)[2].strip())
    versions = {}
    for entry in entries:
        if entry.startswith("#"):
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+) \\", entry)
        assert match, f"not an exact pin: {entry.splitlines()[0]}"
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), f"no hash: {match.group(1)}"
        versions[canonicalize_name(match.group(1))] = match.group(2)
    return versions


def runtime_requirements() -> list[Requirement]:
    reqs = []
    for pyproject in (ROOT / "pyproject.toml", ROOT / "service" / "pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        reqs += [Requirement(r) for r in project["dependencies"]]
    return reqs


def test_lock_pins_with_hashes_every_runtime_dependency_of_both_distributions():
    locked = locked_versions()
    ours = {"aiexpense-exporter", "aiexpense-service"}
    for req in runtime_requirements():
        name = canonicalize_name(req.name)
        if name in ours:
            continue  # built from this repo
        assert name in locked, f"{req} is not in requirements.lock"
        assert req.specifier.contains(locked[name], prereleases=True), (str(req), locked[name])
        for extra in req.extras:  # psycopg[binary] -> psycopg-binary
            assert canonicalize_name(f"{req.name}-{extra}") in locked, f"{req}: {extra}"
    # and what those need in turn, for the packages installed here at the locked version
    environment = {"python_version": "3.11", "sys_platform": "linux", "extra": ""}
    for name, pinned in locked.items():
        try:
            if metadata.version(name) != pinned:
                continue
        except metadata.PackageNotFoundError:
            continue
        for raw in metadata.requires(name) or []:
            dep = Requirement(raw)
            if dep.marker is None or dep.marker.evaluate(environment):
                assert canonicalize_name(dep.name) in locked, f"{name} needs {dep}"
    assert ours.isdisjoint(locked)


def test_lock_keeps_test_bench_and_embedded_tools_out_of_the_image():
    service = tomllib.loads((ROOT / "service" / "pyproject.toml").read_text())["project"]
    bench = tomllib.loads((ROOT / "bench" / "pyproject.toml").read_text())["project"]
    extras = {
        canonicalize_name(Requirement(r).name)
        for group in [bench["dependencies"], *service["optional-dependencies"].values()]
        for r in group
    }  # the service's extras and the benchmark suite (its own distribution) stay out
    runtime = {canonicalize_name(r.name) for r in runtime_requirements()}
    assert {"pytest", "ruff", "pgserver", "scipy", "pyperf"} <= extras
    assert not (extras - runtime) & set(locked_versions()), "dev/bench tools in the image"
