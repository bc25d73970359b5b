"""The health thresholds the service reads from its environment, applied by the kit."""

from __future__ import annotations

import httpx
import pytest

from aiexpense.config import thresholds_from_env
from tests.kit.app import kit_app
from tests.support import running


@pytest.mark.parametrize(
    ("env", "expected", "code"),
    [
        ({"EXPORTER_HEALTH_MEMORY_DEGRADED_MB": "1"}, "degraded", 200),
        # degraded <= unhealthy is required: both move down together
        (
            {"EXPORTER_HEALTH_MEMORY_DEGRADED_MB": "1", "EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB": "1"},
            "unhealthy",
            503,
        ),
        (
            {
                "EXPORTER_HEALTH_MEMORY_DEGRADED_MB": "100000",
                "EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB": "200000",
            },
            "healthy",
            200,
        ),
    ],
)
def test_memory_thresholds_from_the_environment(env, expected, code):
    app = kit_app(thresholds=thresholds_from_env(env))
    with running(app) as url, httpx.Client(base_url=url) as client:
        r = client.get("/monitoring/health")
        assert (r.json()["status"], r.status_code) == (expected, code)
        assert r.json()["checks"]["memory"]["status"] == expected
        assert client.get("/monitoring/ready").status_code == code


def test_bad_threshold_in_environment_is_a_clear_error():
    with pytest.raises(ValueError, match="EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB"):
        thresholds_from_env({"EXPORTER_HEALTH_MEMORY_UNHEALTHY_MB": "lots"})
