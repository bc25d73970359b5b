"""examples/fastapi_app.py, the kit-only FastAPI example the docs point at, works as shown."""

from __future__ import annotations

import httpx

from tests.support import running, wait_until


def test_the_fastapi_example_serves_its_metrics_health_and_probes() -> None:
    from examples.fastapi_app import app

    with running(app) as url, httpx.Client(base_url=url) as client:
        assert client.get("/orders/7").json()["item"] == "tea"
        assert client.get("/orders/9").status_code == 404
        wait_until(lambda: client.get("/monitoring/ready").status_code == 200)
        checks = client.get("/monitoring/health").json()["checks"]
        assert checks["prices"]["status"] == "healthy"
        assert checks["prices"]["reason"] == "2 prices loaded"
        text = client.get("/metrics").text
        route = 'method="GET",route="/orders/{order_id}"'
        assert f'shop_http_requests_total{{{route},status="404"}} 1.0' in text
        assert 'shop_operations_total{operation="load_order"} 2.0' in text
        assert 'shop_operation_errors_total{operation="load_order"} 0.0' in text  # 404: expected
        assert 'shop_operations_total{operation="refresh_prices"} 1.0' in text
        assert client.get("/monitoring/operation?name=load_order").json()["count"] == 2
