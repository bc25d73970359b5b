"""A real Prometheus scrapes the protobuf exposition and reads native histograms from it.

Debian's Prometheus 2.42 twice, on free loopback ports with temp data dirs, scraping one
tiny ASGI app (uvicorn, in this process) every second: one with
``--enable-feature=native-histograms`` (it asks for protobuf and stores one native series),
one without (it asks for text and stores the classic buckets of the same histogram).
``histogram_quantile(0.99, rate(...))`` over the native series must fall in the bucket,
at schema 3, of the true 99th percentile of what was observed: within a factor
2^(1/8) (9%) of it.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import random
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from prometheus_client import CollectorRegistry, Counter

from exporter.native import (
    CONTENT_TYPE,
    NativeHistogramCollector,
    NativeOptions,
    lower_bound,
    render,
    upper_bound,
)
from exporter.native.schema import bucket_key
from tests.support import SCRAPE, Prometheus, prometheus_daemon, running, wait_until

pytestmark = pytest.mark.slow

NAME = "e2e_latency_seconds"
CLASSIC = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0)
N = 5000


class App:
    """``/metrics`` serving ``registry`` in the format the scraper asks for; it remembers
    the content types it answered with."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.answered: set[str] = set()
        self.lock = threading.Lock()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":  # lifespan
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            return
        headers = dict(scope["headers"])
        body, content_type = render(self.registry, headers.get(b"accept", b"").decode())
        with self.lock:
            self.answered.add(content_type)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", content_type.encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


@contextlib.contextmanager
def prometheus(directory, target: str, *flags: str) -> Iterator[Prometheus]:
    config = {
        "global": {"scrape_interval": f"{SCRAPE}s", "scrape_timeout": f"{SCRAPE}s"},
        "scrape_configs": [
            {"job_name": "native", "static_configs": [{"targets": [urlsplit(target).netloc]}]}
        ],
    }
    with prometheus_daemon(config, directory, *flags) as url:
        server = Prometheus(url)
        wait_until(lambda: server.query("up == 1"), timeout=15)
        yield server


def value(result: list[dict]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_prometheus_reads_native_histograms_and_text_scrapers_get_classic_buckets(tmp_path):
    registry = CollectorRegistry()
    latency = NativeHistogramCollector(
        NAME, "Latency.", ["op"], options=NativeOptions(bucket_factor=1.1), buckets=CLASSIC,
        registry=registry,
    ).labels("read")  # fmt: skip
    Counter("e2e_requests", "Requests.", registry=registry).inc(3)
    app = App(registry)
    with (
        running(app) as target,
        prometheus(tmp_path / "native", target, "--enable-feature=native-histograms") as native,
        prometheus(tmp_path / "classic", target) as classic,
    ):
        # both have a sample from before the observations: rate() sees all of them
        wait_until(lambda: native.query(f"histogram_count({NAME})"), timeout=15)
        wait_until(lambda: classic.query(f"{NAME}_count"), timeout=15)
        rng = random.Random(22)
        values = [rng.lognormvariate(-4, 1.2) for _ in range(N)]  # ~18 ms median, long tail
        for v in values:
            latency.observe(v)
        wait_until(lambda: value(native.query(f"histogram_count({NAME})")) == N, timeout=15)
        wait_until(lambda: value(classic.query(f"{NAME}_count")) == N, timeout=15)

        true_p99 = sorted(values)[math.ceil(0.99 * N) - 1]
        estimate = value(native.query(f"histogram_quantile(0.99, rate({NAME}[1m]))"))
        key = bucket_key(true_p99, 3)
        assert lower_bound(key, 3) <= estimate <= upper_bound(key, 3), (estimate, true_p99)
        assert abs(estimate - true_p99) / true_p99 <= 2 ** (1 / 8) - 1

        # the native Prometheus stores one histogram series, no classic buckets
        (series,) = native.query(NAME)
        assert "histogram" in series and series["metric"]["op"] == "read"
        assert native.query(f"{NAME}_bucket") == []
        assert value(native.query(f"histogram_sum({NAME})")) == pytest.approx(sum(values))
        assert value(native.query("e2e_requests_total")) == 3  # other types, via protobuf

        # the classic one, from the text format: the classic buckets of the same histogram
        buckets = classic.query(f"{NAME}_bucket")
        assert {b["metric"]["le"] for b in buckets} == {*map(str, CLASSIC), "+Inf"}
        le_01 = value(classic.query(f'{NAME}_bucket{{le="0.1"}}'))
        assert le_01 == bisect.bisect_right(sorted(values), 0.1)
        classic_p99 = value(classic.query(f"histogram_quantile(0.99, rate({NAME}_bucket[1m]))"))
        upper = CLASSIC[bisect.bisect_left(CLASSIC, true_p99)]
        assert true_p99 <= upper and classic_p99 <= upper  # classic: only the bucket's range

    assert CONTENT_TYPE in app.answered
    assert any(c.startswith(("text/plain", "application/openmetrics-text")) for c in app.answered)
