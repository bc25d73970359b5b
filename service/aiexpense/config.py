"""Settings of the service, from environment variables (12-factor), each with a default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from exporter import Thresholds


def _number(environ: Mapping[str, str], key: str, default: float, kind=float):
    raw = environ.get(key, "").strip()
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{key}={raw!r} is not {what}") from None


def _switch(environ: Mapping[str, str], key: str, default: bool) -> bool:
    raw = environ.get(key, "").strip().lower()
    if raw == "":
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{key}={raw!r} is not on or off")


def _secret(environ: Mapping[str, str], key: str) -> str | None:
    """A credential: None when unset or blank (never an empty secret that would verify)."""
    value = environ.get(key, "").strip()
    return value or None


def _secret_field():
    return field(default=None, repr=False)  # credentials never appear in a repr or a log


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
        def base(key: str, default: str) -> str:
            return (environ.get(key) or default).rstrip("/")

        return cls(
            line_channel_secret=_secret(environ, "LINE_CHANNEL_SECRET"),
            line_channel_access_token=_secret(environ, "LINE_CHANNEL_ACCESS_TOKEN"),
            line_api_base=base("EXPORTER_LINE_API_BASE", cls.line_api_base),
            telegram_secret_token=_secret(environ, "TELEGRAM_SECRET_TOKEN"),
            telegram_bot_token=_secret(environ, "TELEGRAM_BOT_TOKEN"),
            telegram_api_base=base("EXPORTER_TELEGRAM_API_BASE", cls.telegram_api_base),
            slack_signing_secret=_secret(environ, "SLACK_SIGNING_SECRET"),
            slack_bot_token=_secret(environ, "SLACK_BOT_TOKEN"),
            slack_api_base=base("EXPORTER_SLACK_API_BASE", cls.slack_api_base),
            discord_public_key=_secret(environ, "DISCORD_PUBLIC_KEY"),
            whatsapp_app_secret=_secret(environ, "WHATSAPP_APP_SECRET"),
            whatsapp_verify_token=_secret(environ, "WHATSAPP_VERIFY_TOKEN"),
            whatsapp_access_token=_secret(environ, "WHATSAPP_ACCESS_TOKEN"),
            whatsapp_phone_number_id=_secret(environ, "WHATSAPP_PHONE_NUMBER_ID"),
            whatsapp_api_base=base("EXPORTER_WHATSAPP_API_BASE", cls.whatsapp_api_base),
            messenger_app_secret=_secret(environ, "MESSENGER_APP_SECRET"),
            messenger_verify_token=_secret(environ, "MESSENGER_VERIFY_TOKEN"),
            messenger_page_access_token=_secret(environ, "MESSENGER_PAGE_ACCESS_TOKEN"),
            messenger_api_base=base("EXPORTER_MESSENGER_API_BASE", cls.messenger_api_base),
            reply_timeout_seconds=_number(environ, "EXPORTER_REPLY_TIMEOUT_SECONDS", 10.0),
        )


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None  # None: start the embedded PostgreSQL in data_dir
    data_dir: Path = Path(".data")
    host: str = "127.0.0.1"
    port: int = 8080
    namespace: str = "aiexpense"
    admin_token: str | None = None
    pool_min: int = 2
    pool_max: int = 10
    pool_timeout_seconds: float = 5.0  # a request's wait for a connection (psycopg's default: 30)
    shutdown_grace_seconds: float = 0.0  # ready answers 503 this long before the server stops
    workers: int = 1  # server processes (exporter serve --workers)
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
    thresholds: Thresholds = field(default_factory=Thresholds)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            database_url=environ.get("DATABASE_URL") or None,
            data_dir=Path(environ.get("EXPORTER_DATA_DIR", ".data")),
            host=environ.get("EXPORTER_HOST", "127.0.0.1"),
            port=_number(environ, "EXPORTER_PORT", 8080, int),
            namespace=environ.get("EXPORTER_NAMESPACE", "aiexpense"),
            admin_token=environ.get("EXPORTER_ADMIN_TOKEN") or None,
            pool_min=_number(environ, "EXPORTER_DB_POOL_MIN", 2, int),
            pool_max=_number(environ, "EXPORTER_DB_POOL_MAX", 10, int),
            pool_timeout_seconds=_number(environ, "EXPORTER_DB_POOL_TIMEOUT_SECONDS", 5.0),
            shutdown_grace_seconds=_number(environ, "EXPORTER_SHUTDOWN_GRACE_SECONDS", 0.0),
            workers=_number(environ, "EXPORTER_WORKERS", 1, int),
            metrics_cache_seconds=_number(environ, "EXPORTER_METRICS_CACHE_SECONDS", 0.0),
            job_workers=_number(environ, "EXPORTER_JOB_WORKERS", 2, int),
            job_queue_size=_number(environ, "EXPORTER_JOB_QUEUE_SIZE", 1000, int),
            job_drain_seconds=_number(environ, "EXPORTER_JOB_DRAIN_SECONDS", 10.0),
            cache_heartbeat_seconds=_number(environ, "EXPORTER_CACHE_HEARTBEAT_SECONDS", 2.5),
            reply_workers=_number(environ, "EXPORTER_REPLY_WORKERS", 4, int),
            reply_lease_seconds=_number(environ, "EXPORTER_REPLY_LEASE_SECONDS", 30.0),
            reply_max_attempts=_number(environ, "EXPORTER_REPLY_MAX_ATTEMPTS", 5, int),
            reply_poll_seconds=_number(environ, "EXPORTER_REPLY_POLL_SECONDS", 1.0),
            delivery_retention_days=_number(environ, "EXPORTER_DELIVERY_RETENTION_DAYS", 7.0),
            default_currency=environ.get("EXPORTER_DEFAULT_CURRENCY", "TWD").upper(),
            instrumentation=_switch(environ, "EXPORTER_INSTRUMENTATION", True),
            thresholds=thresholds_from_env(environ),
            webhooks=WebhookSettings.from_env(environ),
        )


def thresholds_from_env(environ: Mapping[str, str] = os.environ) -> Thresholds:
    """Read ``EXPORTER_HEALTH_<FIELD>``, e.g. ``EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB=400``."""
    values = {}
    for item in fields(Thresholds):
        key = threshold_env_name(item.name)
        if key in environ:
            kind = int if isinstance(item.default, int) else float
            values[item.name] = _number(environ, key, item.default, kind)
            if values[item.name] < 0:
                raise ValueError(f"{key}={environ[key]!r} must not be negative")
    return Thresholds(**values)


def threshold_env_name(field_name: str) -> str:
    return f"EXPORTER_HEALTH_{field_name.upper()}"
