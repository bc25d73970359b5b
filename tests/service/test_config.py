"""Settings: every bad value is one line naming the variable, the value and what is allowed,
then exit 2 with no traceback; all bad values at once; check-config shows where each came
from with secrets masked; flags win over the environment, which wins over the defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiexpense.config import ConfigError, Settings, load

REPO = Path(__file__).resolve().parents[2]
DEFAULTS = {e.name: e.value for e in load({})[1]}


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


NUMERIC = sorted(name for name, value in DEFAULTS.items() if _is_number(value))
BAD_NUMBERS = ("abc", "nan", "inf", "-inf", "-1", "1e999", "1.5.2", "1_000", "\u0663")


def errors(env: dict[str, str], flags: dict[str, str | None] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(env, flags)
    return caught.value.errors


def exporter(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("EXPORTER_")}
    return subprocess.run(
        [sys.executable, "-m", "aiexpense", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def test_every_numeric_setting_is_in_the_table() -> None:
    # The table below is built from the defaults: a new numeric setting joins it by itself.
    assert {"EXPORTER_PORT", "EXPORTER_WORKERS", "EXPORTER_DB_POOL_MAX"} <= set(NUMERIC)
    assert "EXPORTER_HEALTH_INTERVAL_SECONDS" in NUMERIC
    assert "EXPORTER_SHUTDOWN_GRACE_SECONDS" in NUMERIC
    assert len(NUMERIC) >= 23  # 9 of the service, 13 thresholds, the reply timeout


@pytest.mark.parametrize("bad", BAD_NUMBERS)
@pytest.mark.parametrize("name", NUMERIC)
def test_a_bad_number_is_one_line_naming_the_variable(name: str, bad: str) -> None:
    (line,) = errors({name: bad})
    assert line.startswith(f"{name}={bad}: must be a ")
    assert "number" in line


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"EXPORTER_PORT": "99999"}, "EXPORTER_PORT=99999: must be a whole number from 1 to 65535"),
        ({"EXPORTER_PORT": "0"}, "EXPORTER_PORT=0: must be a whole number from 1 to 65535"),
        ({"EXPORTER_DB_POOL_MAX": "-3"}, "EXPORTER_DB_POOL_MAX=-3: must be a whole number"),
        ({"EXPORTER_DB_POOL_MAX": "0"}, "EXPORTER_DB_POOL_MAX=0: must be a whole number"),
        (
            {"EXPORTER_DB_POOL_MIN": "20"},
            "EXPORTER_DB_POOL_MIN=20: must be <= EXPORTER_DB_POOL_MAX",
        ),
        ({"EXPORTER_JOB_WORKERS": "0"}, "EXPORTER_JOB_WORKERS=0: must be a whole number"),
        ({"EXPORTER_WORKERS": "0"}, "EXPORTER_WORKERS=0: must be a whole number"),
        ({"EXPORTER_WORKERS": "2.5"}, "EXPORTER_WORKERS=2.5: must be a whole number"),
        ({"EXPORTER_JOB_QUEUE_SIZE": "0"}, "EXPORTER_JOB_QUEUE_SIZE=0: must be a whole number"),
        ({"EXPORTER_DB_POOL_TIMEOUT_SECONDS": "0"}, "EXPORTER_DB_POOL_TIMEOUT_SECONDS=0: must"),
        ({"EXPORTER_SHUTDOWN_GRACE_SECONDS": "nan"}, "EXPORTER_SHUTDOWN_GRACE_SECONDS=nan: must"),
        ({"EXPORTER_DEFAULT_CURRENCY": "XX"}, "EXPORTER_DEFAULT_CURRENCY=XX: must be an ISO 4217"),
        ({"EXPORTER_LOG_LEVEL": "bogus"}, "EXPORTER_LOG_LEVEL=bogus: must be one of critical,"),
        ({"EXPORTER_LOG_FORMAT": "xml"}, "EXPORTER_LOG_FORMAT=xml: must be one of auto, json"),
        ({"EXPORTER_ACCESS_LOG": "maybe"}, "EXPORTER_ACCESS_LOG=maybe: must be on or off"),
        ({"EXPORTER_INSTRUMENTATION": "maybe"}, "EXPORTER_INSTRUMENTATION=maybe: must be on or"),
        ({"EXPORTER_NAMESPACE": "my-app"}, "EXPORTER_NAMESPACE=my-app: must be a Prometheus name"),
        ({"EXPORTER_HOST": "not a host"}, "EXPORTER_HOST='not a host': must be an IP address"),
        ({"EXPORTER_LINE_API_BASE": "api.line.me"}, "EXPORTER_LINE_API_BASE=api.line.me: must be"),
        ({"EXPORTER_SLACK_API_BASE": "ftp://x"}, "EXPORTER_SLACK_API_BASE=ftp://x: must be an"),
        ({"EXPORTER_TELEGRAM_API_BASE": "http://h:port"}, "EXPORTER_TELEGRAM_API_BASE=http://h"),
        ({"DISCORD_PUBLIC_KEY": "not-hex"}, "DISCORD_PUBLIC_KEY=not-hex: must be 64 hex digits"),
        ({"EXPORTER_HEALTH_PING_FAILURES": "1.5"}, "EXPORTER_HEALTH_PING_FAILURES=1.5: must be"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(env, line) -> None:
    (got,) = errors(env)
    assert got.startswith(line)


def test_a_bad_database_url_is_named_without_its_password() -> None:
    (line,) = errors({"DATABASE_URL": "postgresql://app:hunter2@db:port/x"})
    assert line.startswith("DATABASE_URL=postgresql://app:****@db:port/x: must be")
    assert "hunter2" not in line
    (line,) = errors({"DATABASE_URL": "host=db password=hunter2 = oops"})
    assert "hunter2" not in line and line.startswith("DATABASE_URL=")


def test_every_bad_value_is_reported_not_only_the_first() -> None:
    env = {
        "EXPORTER_PORT": "-1",
        "EXPORTER_DB_POOL_MAX": "-3",
        "EXPORTER_HEALTH_INTERVAL_SECONDS": "nan",
        "EXPORTER_DEFAULT_CURRENCY": "XX",
        "EXPORTER_REPLY_TIMEOUT_SECONDS": "inf",
    }
    lines = errors(env)
    assert sorted(line.split("=")[0] for line in lines) == sorted(env)


def test_a_flag_is_named_by_its_flag() -> None:
    (line,) = errors({}, {"EXPORTER_PORT": "99999"})
    assert line == "--port=99999: must be a whole number from 1 to 65535"
    (line,) = errors({}, {"EXPORTER_LOG_LEVEL": "bogus"})
    assert line.startswith("--log-level=bogus: must be one of")


def test_good_values_are_read_and_normalised() -> None:
    s = Settings.from_env(
        {
            "EXPORTER_PORT": " 9000 ",
            "EXPORTER_WORKERS": "4",
            "EXPORTER_DEFAULT_CURRENCY": "usd",
            "EXPORTER_LOG_LEVEL": "DEBUG",
            "EXPORTER_ACCESS_LOG": "yes",
            "EXPORTER_LINE_API_BASE": "http://127.0.0.1:9/line/",
            "EXPORTER_DB_POOL_MIN": "0",
            "EXPORTER_SHUTDOWN_GRACE_SECONDS": "0",
            "EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB": "400",
            "EXPORTER_ADMIN_TOKEN": "",  # blank is unset
        }
    )
    assert (s.port, s.workers, s.default_currency, s.log_level) == (9000, 4, "USD", "debug")
    assert s.access_log and s.pool_min == 0 and s.shutdown_grace_seconds == 0.0
    assert s.webhooks.line_api_base == "http://127.0.0.1:9/line"
    assert s.thresholds.memory_unhealthy_mb == 400.0 and s.admin_token is None
    assert Settings.from_env({}) == Settings()


def test_flags_win_over_the_environment_which_wins_over_the_defaults() -> None:
    entries = {e.name: e for e in load({"EXPORTER_PORT": "7000"}, {"EXPORTER_PORT": "9000"})[1]}
    assert (entries["EXPORTER_PORT"].value, entries["EXPORTER_PORT"].source) == ("9000", "--port")
    entries = {e.name: e for e in load({"EXPORTER_PORT": "7000"})[1]}
    assert (entries["EXPORTER_PORT"].value, entries["EXPORTER_PORT"].source) == (
        "7000",
        "environment",
    )
    assert DEFAULTS["EXPORTER_PORT"] == "8080"


# The kit's Thresholds checks its own ranges and rules; the settings name the variable.
@pytest.mark.parametrize(
    ("name", "bad"),
    [("EXPORTER_HEALTH_INTERVAL_SECONDS", "0"), ("EXPORTER_HEALTH_MEMORY_LIMIT_FRACTION", "7")],
)
def test_the_kits_threshold_rules_are_reported_under_the_variable(name: str, bad: str) -> None:
    (line,) = errors({name: bad})
    assert line.startswith(f"{name}={bad}: ")


# -- the command line, as a user runs it ------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_the_command_prints_one_line_per_bad_variable_and_exits_2(command: str) -> None:
    env = {"EXPORTER_DB_POOL_MAX": "-3", "EXPORTER_SHUTDOWN_GRACE_SECONDS": "nan"}
    done = exporter(command, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("EXPORTER_DB_POOL_MAX=-3: must be a whole number")
    assert lines[1].startswith("EXPORTER_SHUTDOWN_GRACE_SECONDS=nan: must be a finite number")
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--port", "99999"], "--port=99999: must be a whole number from 1 to 65535"),
        (["--log-level", "bogus"], "--log-level=bogus: must be one of critical"),
    ],
)
def test_a_bad_flag_of_serve_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    done = exporter("serve", *args, env={})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith(line) and "Traceback" not in done.stderr


def test_check_config_prints_every_setting_its_source_and_masks_secrets() -> None:
    env = {
        "EXPORTER_ADMIN_TOKEN": "admin-s3cret",
        "SLACK_SIGNING_SECRET": "slack-s3cret",
        "DATABASE_URL": "postgresql://app:db-s3cret@127.0.0.1:5432/app",
        "EXPORTER_PORT": "7000",
    }
    done = exporter("check-config", "--port", "9000", env=env)
    assert done.returncode == 0, done.stderr
    assert "s3cret" not in done.stdout + done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[1:]}
    assert set(rows) == set(DEFAULTS)  # every setting, once
    assert rows["EXPORTER_ADMIN_TOKEN"][1:] == ["****", "environment"]
    assert rows["SLACK_SIGNING_SECRET"][1:] == ["****", "environment"]
    assert rows["DATABASE_URL"][1:] == ["postgresql://app:****@127.0.0.1:5432/app", "environment"]
    assert rows["EXPORTER_PORT"][1:] == ["9000", "--port"]
    assert rows["EXPORTER_JOB_WORKERS"][1:] == ["2", "default"]
    assert rows["LINE_CHANNEL_SECRET"][1:] == ["(unset)", "default"]


def _make_run(*args: str, env: dict[str, str]) -> str:
    # Under `make test` the outer make's MAKEFLAGS/MAKELEVEL would make this one print
    # "Entering directory" lines: run it as a make of its own.
    outer = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", *args],
        cwd=REPO,
        env={**outer, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()[-1]


def test_make_run_passes_port_only_when_given_on_its_command_line() -> None:
    assert _make_run(env={}).split()[-1] == "serve"  # EXPORTER_PORT (or 8080) decides
    assert _make_run(env={"PORT": "7000", "HOST": "h"}).split()[-1] == "serve"
    assert _make_run("PORT=9000", env={}).split()[-2:] == ["--port", "9000"]
    assert _make_run("PORT=9000", "HOST=0.0.0.0", env={}).split()[-4:] == [
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
    ]
