"""Settings of the service, from environment variables (12-factor), each with a default.

Every value is checked at start-up (type, range, finiteness, the rules between settings);
``load`` raises :class:`ConfigError` listing every bad variable, one line each, and the CLI
prints those lines and exits 2. Flags of ``exporter serve`` win over the environment, which
wins over the defaults.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import psycopg.conninfo
from uvicorn.config import LOG_LEVELS

from exporter import ShowDetails, Thresholds

from ..domain.currencies import MINOR_UNITS
from .reader import ConfigError, Entry, Reader

__all__ = ["ConfigError", "Entry", "Settings", "WebhookSettings", "load", "thresholds_from_env"]

LOG_FORMATS = ("auto", "json", "text")  # auto: JSON unless stderr is a terminal
MAX_SECONDS = 86_400.0  # no wait, timeout or grace period of ours needs more than a day
_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@|(password=)[^\s&]*", re.IGNORECASE)


def _secret_field() -> Any:
    return field(default=None, repr=False)  # credentials never appear in a repr or a log


def seconds(reader: Reader, key: str, default: float, *, zero: bool = False) -> float:
    """A duration of ours: finite, at most a day, and > 0 unless ``zero`` is allowed."""
    if zero:
        return reader.number(key, default, minimum=0.0, maximum=MAX_SECONDS)
    return reader.number(key, default, above=0.0, maximum=MAX_SECONDS)


@dataclass(frozen=True)
class WebhookSettings:
    """Credentials and API base URLs of the six messaging webhooks (``docs/webhooks.md``).

    Credentials keep the names the platforms' own SDKs and samples use (``LINE_CHANNEL_SECRET``,
    ``SLACK_SIGNING_SECRET``...), like ``DATABASE_URL``; knobs of ours are ``EXPORTER_*``. A
    platform whose signing secret is unset answers 503; one whose access token is unset
    records expenses but sends no replies.
    """

    line_channel_secret: str | None = _secret_field()
    line_channel_access_token: str | None = _secret_field()
    line_api_base: str = "https://api.line.me"
    telegram_secret_token: str | None = _secret_field()
    telegram_bot_token: str | None = _secret_field()
    telegram_api_base: str = "https://api.telegram.org"
    telegram_bot_username: str | None = None  # public: how group members @mention the bot
    slack_signing_secret: str | None = _secret_field()
    slack_bot_token: str | None = _secret_field()
    slack_api_base: str = "https://slack.com/api"
    discord_public_key: str | None = None  # hex; public, so it may show in a repr
    whatsapp_app_secret: str | None = _secret_field()
    whatsapp_verify_token: str | None = _secret_field()
    whatsapp_access_token: str | None = _secret_field()
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_base: str = "https://graph.facebook.com/v21.0"
    messenger_app_secret: str | None = _secret_field()
    messenger_verify_token: str | None = _secret_field()
    messenger_page_access_token: str | None = _secret_field()
    messenger_api_base: str = "https://graph.facebook.com/v21.0"
    reply_timeout_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> WebhookSettings:
        reader = Reader(environ)
        settings = cls.read(reader)
        reader.check()
        return settings

    @classmethod
    def read(cls, r: Reader) -> WebhookSettings:
        return cls(
            line_channel_secret=r.secret("LINE_CHANNEL_SECRET"),
            line_channel_access_token=r.secret("LINE_CHANNEL_ACCESS_TOKEN"),
            line_api_base=r.url("EXPORTER_LINE_API_BASE", cls.line_api_base),
            telegram_secret_token=r.secret("TELEGRAM_SECRET_TOKEN"),
            telegram_bot_token=r.secret("TELEGRAM_BOT_TOKEN"),
            telegram_api_base=r.url("EXPORTER_TELEGRAM_API_BASE", cls.telegram_api_base),
            telegram_bot_username=r.text(
                "TELEGRAM_BOT_USERNAME",
                None,
                pattern="@?[A-Za-z][A-Za-z0-9_]{4,31}",
                allowed="must be a Telegram bot username (5-32 letters, digits, _)",
            ),
            slack_signing_secret=r.secret("SLACK_SIGNING_SECRET"),
            slack_bot_token=r.secret("SLACK_BOT_TOKEN"),
            slack_api_base=r.url("EXPORTER_SLACK_API_BASE", cls.slack_api_base),
            discord_public_key=r.text(
                "DISCORD_PUBLIC_KEY",
                None,
                pattern="[0-9a-fA-F]{64}",
                allowed="must be 64 hex digits (the application public key)",
            ),
            whatsapp_app_secret=r.secret("WHATSAPP_APP_SECRET"),
            whatsapp_verify_token=r.secret("WHATSAPP_VERIFY_TOKEN"),
            whatsapp_access_token=r.secret("WHATSAPP_ACCESS_TOKEN"),
            whatsapp_phone_number_id=r.text(
                "WHATSAPP_PHONE_NUMBER_ID", None, pattern="[0-9]+", allowed="must be digits"
            ),
            whatsapp_api_base=r.url("EXPORTER_WHATSAPP_API_BASE", cls.whatsapp_api_base),
            messenger_app_secret=r.secret("MESSENGER_APP_SECRET"),
            messenger_verify_token=r.secret("MESSENGER_VERIFY_TOKEN"),
            messenger_page_access_token=r.secret("MESSENGER_PAGE_ACCESS_TOKEN"),
            messenger_api_base=r.url("EXPORTER_MESSENGER_API_BASE", cls.messenger_api_base),
            reply_timeout_seconds=seconds(r, "EXPORTER_REPLY_TIMEOUT_SECONDS", 10.0),
        )


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: start the embedded PostgreSQL in data_dir
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1  # server processes (exporter serve --workers)
    log_level: str = "info"  # one of uvicorn's
    log_format: str = "auto"
    access_log: bool = False
    namespace: str = "aiexpense"
    admin_token: str | None = field(default=None, repr=False)
    pool_min: int = 2
    pool_max: int = 10
    pool_timeout_seconds: float = 5.0  # a request's wait for a connection (psycopg's default: 30)
    statement_timeout_seconds: float = 5.0  # PostgreSQL's statement_timeout, and our bound
    header_timeout_seconds: float = 10.0  # a request's line and headers must arrive within
    body_timeout_seconds: float = 30.0  # a request's whole body must arrive within
    shutdown_grace_seconds: float = 0.0  # ready answers 503 this long before the server stops
    metrics_cache_seconds: float = 0.0  # scrapes within this reuse one render of /metrics
    job_workers: int = 2
    job_queue_size: int = 1000
    job_drain_seconds: float = 10.0  # also the reply outbox's drain at shutdown
    # Several replicas (docs/replicas.md): caches stale by at most 2x the heartbeat when
    # an invalidation is missed; replies leased for lease_seconds by the replica sending.
    cache_heartbeat_seconds: float = 2.5
    reply_workers: int = 4
    reply_lease_seconds: float = 30.0
    reply_max_attempts: int = 5
    reply_poll_seconds: float = 1.0
    delivery_retention_days: float = 7.0  # answered messages and finished replies kept
    default_currency: str = "TWD"
    instrumentation: bool = True  # off: a NullCollector, to measure what timing costs
    health_show_details: str = "always"  # never | when-authorized | always (the admin token)
    thresholds: Thresholds = field(default_factory=Thresholds)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings from ``environ``; :class:`ConfigError` names every bad variable."""
        return load(environ)[0]

    @classmethod
    def read(cls, r: Reader) -> Settings:
        settings = cls(
            database_url=_database_url(r),
            data_dir=Path(r.text("EXPORTER_DATA_DIR", ".data")),
            host=_host(r),
            port=r.integer("EXPORTER_PORT", 8080, minimum=1, maximum=65535),
            workers=r.integer("EXPORTER_WORKERS", 1, minimum=1, maximum=256),
            log_level=r.choice("EXPORTER_LOG_LEVEL", "info", list(LOG_LEVELS)),
            log_format=r.choice("EXPORTER_LOG_FORMAT", "auto", LOG_FORMATS),
            access_log=r.switch("EXPORTER_ACCESS_LOG", False),
            namespace=r.text(
                "EXPORTER_NAMESPACE",
                "aiexpense",
                pattern="[a-zA-Z_][a-zA-Z0-9_]*",
                allowed="must be a Prometheus name: letters, digits and _, not a digit first",
            ),
            admin_token=r.secret("EXPORTER_ADMIN_TOKEN"),
            pool_min=r.integer("EXPORTER_DB_POOL_MIN", 2, minimum=0, maximum=1000),
            pool_max=r.integer("EXPORTER_DB_POOL_MAX", 10, minimum=1, maximum=1000),
            pool_timeout_seconds=seconds(r, "EXPORTER_DB_POOL_TIMEOUT_SECONDS", 5.0),
            statement_timeout_seconds=seconds(r, "EXPORTER_DB_STATEMENT_TIMEOUT_SECONDS", 5.0),
            header_timeout_seconds=seconds(r, "EXPORTER_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=seconds(r, "EXPORTER_BODY_TIMEOUT_SECONDS", 30.0),
            shutdown_grace_seconds=seconds(r, "EXPORTER_SHUTDOWN_GRACE_SECONDS", 0.0, zero=True),
            metrics_cache_seconds=seconds(r, "EXPORTER_METRICS_CACHE_SECONDS", 0.0, zero=True),
            job_workers=r.integer("EXPORTER_JOB_WORKERS", 2, minimum=1, maximum=1000),
            job_queue_size=r.integer("EXPORTER_JOB_QUEUE_SIZE", 1000, minimum=1),
            job_drain_seconds=seconds(r, "EXPORTER_JOB_DRAIN_SECONDS", 10.0, zero=True),
            cache_heartbeat_seconds=seconds(r, "EXPORTER_CACHE_HEARTBEAT_SECONDS", 2.5),
            reply_workers=r.integer("EXPORTER_REPLY_WORKERS", 4, minimum=1, maximum=100),
            reply_lease_seconds=seconds(r, "EXPORTER_REPLY_LEASE_SECONDS", 30.0),
            reply_max_attempts=r.integer("EXPORTER_REPLY_MAX_ATTEMPTS", 5, minimum=1, maximum=100),
            reply_poll_seconds=seconds(r, "EXPORTER_REPLY_POLL_SECONDS", 1.0),
            delivery_retention_days=r.number(
                "EXPORTER_DELIVERY_RETENTION_DAYS", 7.0, minimum=0.01, maximum=3650.0
            ),
            default_currency=r.choice(
                "EXPORTER_DEFAULT_CURRENCY",
                "TWD",
                sorted(MINOR_UNITS),
                allowed="must be an ISO 4217 currency code in circulation (TWD, USD, EUR...)",
            ),
            instrumentation=r.switch("EXPORTER_INSTRUMENTATION", True),
            health_show_details=r.choice(
                "EXPORTER_HEALTH_SHOW_DETAILS", "always", [d.value for d in ShowDetails]
            ),
            thresholds=read_thresholds(r),
            webhooks=WebhookSettings.read(r),
        )
        pools = ("EXPORTER_DB_POOL_MIN", "EXPORTER_DB_POOL_MAX")
        if r.valid(*pools) and settings.pool_min > settings.pool_max:
            r.fail(pools[0], r.shown(pools[0]), f"must be <= {pools[1]} ({settings.pool_max})")
        return settings


# The flags of `exporter serve` and the variables they override.
FLAGS = {
    "EXPORTER_HOST": "--host",
    "EXPORTER_PORT": "--port",
    "EXPORTER_WORKERS": "--workers",
    "EXPORTER_LOG_LEVEL": "--log-level",
    "EXPORTER_LOG_FORMAT": "--log-format",
    "EXPORTER_ACCESS_LOG": "--access-log",
}


def load(
    environ: Mapping[str, str] = os.environ, flags: Mapping[str, str | None] | None = None
) -> tuple[Settings, list[Entry]]:
    """(settings, every variable as read) from flags, then ``environ``, then the defaults.

    ``flags`` maps a variable to the command-line value that overrides it
    (``{"EXPORTER_PORT": "9000"}``; None: not given). Raises :class:`ConfigError`.
    """
    reader = Reader(environ, flags, FLAGS)
    settings = Settings.read(reader)
    reader.check()
    return settings, list(reader.entries.values())


def _database_url(r: Reader) -> str | None:
    raw, source = r.raw("DATABASE_URL")
    if raw is None:
        r.note("DATABASE_URL", "(unset)", "default: the embedded PostgreSQL")
        return None
    value = raw.strip()
    try:
        port = str(psycopg.conninfo.conninfo_to_dict(value).get("port", "5432"))
    except psycopg.ProgrammingError:
        port = ""
    if not all(p.isdigit() for p in port.split(",")):  # libpq takes "5432,5433" for two hosts
        r.fail(
            "DATABASE_URL", mask_password(value), "must be a postgresql:// URL or libpq conninfo"
        )
        return None
    r.note("DATABASE_URL", mask_password(value), source)
    return value


def mask_password(conninfo: str) -> str:
    """``conninfo`` with any password replaced by ``****`` (URL or key=value form)."""
    return _PASSWORD.sub(
        lambda m: f"{m.group(1)}****@" if m.group(1) else f"{m.group(2)}****", conninfo
    )


def _host(r: Reader) -> str:
    host = r.text("EXPORTER_HOST", "127.0.0.1")
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    if not _HOSTNAME.fullmatch(host):
        r.fail("EXPORTER_HOST", host, "must be an IP address or a host name")
        return "127.0.0.1"
    return host


def read_thresholds(r: Reader) -> Thresholds:
    """``EXPORTER_HEALTH_<FIELD>`` for each field of the kit's :class:`Thresholds`.

    Each is a finite number >= 0 (whole for whole-number fields); the rules between them
    and their ranges are the kit's (``Thresholds.__post_init__`` raises
    ``ValueError("<field>: <what is wrong>")``), reported here under the variable's name.
    """
    values: dict[str, Any] = {}
    for item in fields(Thresholds):
        key = threshold_env_name(item.name)
        if isinstance(item.default, int):
            values[item.name] = r.integer(key, item.default, minimum=0)
        else:
            values[item.name] = r.number(key, float(item.default), minimum=0.0)  # type: ignore[arg-type]
    try:
        return Thresholds(**values)
    except ValueError as exc:
        name, _, what = str(exc).partition(": ")
        key = threshold_env_name(name)
        if name in values and what:
            r.fail(key, r.shown(key), what)
        else:
            r.errors.append(f"EXPORTER_HEALTH_*: {exc}")
        return Thresholds()


def thresholds_from_env(environ: Mapping[str, str] = os.environ) -> Thresholds:
    """Read ``EXPORTER_HEALTH_<FIELD>``, e.g. ``EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB=400``."""
    reader = Reader(environ)
    thresholds = read_thresholds(reader)
    reader.check()
    return thresholds


def threshold_env_name(field_name: str) -> str:
    return f"EXPORTER_HEALTH_{field_name.upper()}"
