"""The docs against the code: every variable the docs name exists and every one the code
reads is documented; links stay inside the repository; runbook links are absolute, from the
spec's one runbook_url; the README walk-through answers what it says, on any date."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from aiexpense.app import create_app
from aiexpense.config import Settings, load
from tests.support import daemon, free_port, require_tool, running, wait_until

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
READ = {entry.name for entry in load({})[1]}  # every variable config.py reads
# A whole variable name: not a family written as EXPORTER_HEALTH_<FIELD> or EXPORTER_*.
VARIABLE = re.compile(r"\b(EXPORTER_[A-Z0-9_]*[A-Z0-9])\b(?![_<*])")


def documented() -> dict[str, set[str]]:
    """Variable -> the doc files that name it, for every EXPORTER_* and every variable read."""
    names: dict[str, set[str]] = {}
    for path in DOCS:
        text = path.read_text()
        found = set(VARIABLE.findall(text))
        found |= {name for name in READ if re.search(rf"\b{name}\b", text)}
        for name in found:
            names.setdefault(name, set()).add(path.name)
    return names


def test_every_variable_the_docs_name_is_read_by_the_settings() -> None:
    unknown = {name: sorted(files) for name, files in documented().items() if name not in READ}
    assert not unknown, f"documented but never read: {unknown}"


def test_every_variable_the_settings_read_is_documented() -> None:
    missing = READ - set(documented())
    assert not missing, f"read but not documented in README.md or docs/*.md: {sorted(missing)}"


LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves_inside_the_repository(path: Path) -> None:
    for target in LINK.findall(path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # absolute URLs and anchors on the same page
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{path.name}: {target} leaves the repository"
        assert resolved.exists(), f"{path.name}: {target} does not exist"


def test_the_readme_links_our_summary_of_the_spec() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "](docs/spec.md)" in readme and "shared/spec" not in readme


# -- runbook links -------------------------------------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    rules = yaml.safe_load((ROOT / "alerts" / "alerts.rules.yml").read_text())
    return [r for g in rules["groups"] for r in g["rules"] if "alert" in r]


def runbook_url() -> str:
    """Where docs/runbooks.md is published: the spec's one runbook_url."""
    spec = tomllib.loads((ROOT / "service" / "monitoring.toml").read_text())
    url: str = spec["runbook_url"]
    return url


def test_every_runbook_link_is_the_published_runbooks_plus_an_anchor() -> None:
    assert re.fullmatch(r"https?://[^/\s]+/\S*/docs/runbooks\.md", runbook_url())
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        assert re.fullmatch(re.escape(runbook_url()) + r"#[a-z0-9-]+", url), url


@pytest.mark.slow
def test_prometheus_renders_the_runbook_link_absolute(tmp_path: Path) -> None:
    # A real Prometheus with the real rules, scraping a port nobody listens on: TargetDown
    # goes pending at once, with its annotations rendered.
    binary = require_tool("prometheus")
    config = {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
        },
        "rule_files": [str(ROOT / "alerts" / "alerts.rules.yml")],
        "scrape_configs": [
            {"job_name": "aiexpense", "static_configs": [{"targets": [f"127.0.0.1:{free_port()}"]}]}
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    url = f"http://127.0.0.1:{free_port()}"
    args = [
        binary,
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'data'}",
        f"--web.listen-address={url[len('http://') :]}",
        "--log.level=warn",
    ]

    def target_down() -> list[dict[str, Any]]:
        alerts = httpx.get(f"{url}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        return [a for a in alerts if a["labels"]["alertname"] == "TargetDown"]

    with daemon(args, tmp_path / "prometheus.log", f"{url}/-/ready"):
        (alert,) = wait_until(target_down, timeout=20)
    assert alert["annotations"]["runbook_url"] == f"{runbook_url()}#targetdown"


# -- the README walk-through, run as written -----------------------------------------------


ASSIGNMENT = re.compile(r"([A-Z_]+)=(.*)")  # NAME=value or NAME=$(curl ... | jq -r .field)


def walk_through() -> list[tuple[str, str | None]]:
    """(command, expected output or None) for each command of the README's walk-through."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Walk-through", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    steps: list[list[Any]] = []  # [command, expected, still reading its output comments]
    pending = ""
    for line in block.splitlines():
        if pending:  # a command continued with a backslash
            pending = pending[:-1] + " " + line.strip()
        elif line.startswith("curl") or ASSIGNMENT.match(line):
            pending = line
        elif line.startswith("#") and steps and steps[-1][2]:  # right under a command
            steps[-1][1] += line[1:].strip()
            continue
        else:  # prose or a blank line: the last command's output, if any, has ended
            if steps:
                steps[-1][2] = False
            continue
        if not pending.endswith("\\"):
            steps.append([pending, "", not ASSIGNMENT.match(pending)])  # assignments print nothing
            pending = ""
    return [(command, expected or None) for command, expected, _ in steps]


def curl(client: httpx.Client, command: str) -> str:
    """Run one of the walk-through's curl commands (with an optional ``| grep`` or ``| jq``
    after it, which is applied or dropped) through ``client``; the output curl would print."""
    line, _, pipe = command.partition(" | ")
    words = shlex.split(line)[1:]
    method, headers, data, target = "GET", {}, None, ""
    while words:
        word = words.pop(0)
        if word == "-X":
            method = words.pop(0)
        elif word == "-H":
            name, _, value = words.pop(0).partition(":")
            headers[name] = value.strip()
        elif word == "-d":
            data = words.pop(0)
            method = "POST" if method == "GET" else method
        elif not word.startswith("-"):
            target = word
    path = target.split("localhost:8080", 1)[1]
    response = client.request(method, path, headers=headers, content=data)
    assert response.status_code < 500, (command, response.text)
    out = response.text
    if pipe.startswith("grep"):
        pattern = shlex.split(pipe)[1]
        out = "\n".join(line for line in out.splitlines() if re.search(pattern, line))
    elif pipe.startswith("jq -r ."):  # one field, raw
        out = str(json.loads(out)[pipe.removeprefix("jq -r .").rstrip(")").strip()])
    return out


def run_step(client: httpx.Client, command: str, variables: dict[str, str]) -> str:
    """One step with ``$NAME`` expanded; an assignment stores its value and prints nothing."""
    for name, value in variables.items():
        command = command.replace(f"${name}", value)
    assigned = ASSIGNMENT.fullmatch(command)
    if assigned is None:
        return curl(client, command)
    name, value = assigned.groups()
    if value.startswith("$(") and value.endswith(")"):
        value = curl(client, value[2:-1])
    variables[name] = value
    return ""


def test_the_walk_through_answers_what_the_readme_says_on_any_date(database) -> None:
    steps = walk_through()
    assert len(steps) >= 8 and sum(1 for _, expected in steps if expected) >= 5
    # the admin token the walk-through uses is the one it tells `make run` to start with
    admin = ASSIGNMENT.fullmatch(steps[0][0]).group(2)
    assert f"EXPORTER_ADMIN_TOKEN={admin} make run" in (ROOT / "README.md").read_text()
    variables: dict[str, str] = {}
    with (
        running(create_app(Settings(database_url=database.url, admin_token=admin))) as url,
        httpx.Client(base_url=url) as client,
    ):
        for command, expected in steps:
            out = run_step(client, command, variables)
            if expected is not None:
                pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
                assert re.fullmatch(pattern, out, re.DOTALL), f"{command}\n{out}\n!= {expected}"
