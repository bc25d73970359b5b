"""The whole service's /metrics, with its own series beside the kit's, is lint-clean."""

from __future__ import annotations

import subprocess

import httpx

from tests.support import require_tool, running


def test_the_whole_apps_metrics_pass_promtool(database):
    """The service adds cache, job and pool series: the full /metrics stays lint-clean."""
    from aiexpense.app import create_app
    from aiexpense.config import Settings

    promtool = require_tool("promtool")
    from tests.service.helpers import ADMIN, ADMIN_TOKEN

    app = create_app(Settings(database_url=database.url, admin_token=ADMIN_TOKEN))
    with running(app) as url, httpx.Client(base_url=url, timeout=10, headers=ADMIN) as client:
        user = client.post("/api/users", json={"external_id": "lint"}).json()
        client.post("/api/expenses", json={"user_id": user["id"], "amount": "12.5"})
        client.get("/api/expenses", params={"user_id": user["id"]})
        text = client.get("/metrics").text
    for series in ("aiexpense_cache_requests_total", "aiexpense_job_queue_depth",
                   "aiexpense_db_pool_connections", "aiexpense_health_status"):  # fmt: skip
        assert series in text
    result = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout
