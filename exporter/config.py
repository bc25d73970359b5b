"""Settings of the service, from environment variables (12-factor), each with a default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .thresholds import Thresholds


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a whole number") from None


def _float(environ: Mapping[str, str], key: str, default: float) -> float:
    raw = environ.get(key)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{key}={raw!r} is not a number") from None


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
    shutdown_grace_seconds: float = 0.0  # ready answers 503 this long before the server stops
    job_workers: int = 2
    job_queue_size: int = 1000
    job_drain_seconds: float = 10.0
    default_currency: str = "TWD"
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls(
            database_url=environ.get("DATABASE_URL") or None,
            data_dir=Path(environ.get("EXPORTER_DATA_DIR", ".data")),
            host=environ.get("EXPORTER_HOST", "127.0.0.1"),
            port=_int(environ, "EXPORTER_PORT", 8080),
            namespace=environ.get("EXPORTER_NAMESPACE", "aiexpense"),
            admin_token=environ.get("EXPORTER_ADMIN_TOKEN") or None,
            pool_min=_int(environ, "EXPORTER_DB_POOL_MIN", 2),
            pool_max=_int(environ, "EXPORTER_DB_POOL_MAX", 10),
            shutdown_grace_seconds=_float(environ, "EXPORTER_SHUTDOWN_GRACE_SECONDS", 0.0),
            job_workers=_int(environ, "EXPORTER_JOB_WORKERS", 2),
            job_queue_size=_int(environ, "EXPORTER_JOB_QUEUE_SIZE", 1000),
            job_drain_seconds=_float(environ, "EXPORTER_JOB_DRAIN_SECONDS", 10.0),
            default_currency=environ.get("EXPORTER_DEFAULT_CURRENCY", "TWD").upper(),
            thresholds=Thresholds.from_env(environ),
        )
