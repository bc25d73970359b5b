"""Thresholds validates its own fields: finite, in range, ordered; the message starts with
the field's name so a configuration layer can name its own setting in front."""

from __future__ import annotations

import math

import pytest

from exporter import Thresholds


def test_the_defaults_are_valid():
    Thresholds()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        # The sampler: 0 spins, nan crashes it, inf freezes health, tiny values flap.
        ("interval_seconds", 0, "interval_seconds: must be a finite number >= 0.1, got 0"),
        ("interval_seconds", math.nan, "interval_seconds: must be a finite number >= 0.1, got nan"),
        ("interval_seconds", math.inf, "interval_seconds: must be a finite number >= 0.1, got inf"),
        ("interval_seconds", 0.001, "interval_seconds: must be a finite number >= 0.1, got 0.001"),
        ("interval_seconds", -5, "interval_seconds: must be a finite number >= 0.1, got -5"),
        ("interval_seconds", "5", "interval_seconds: must be a finite number >= 0.1, got '5'"),
        ("interval_seconds", True, "interval_seconds: must be a finite number >= 0.1, got True"),
        ("ping_timeout_seconds", 0, "ping_timeout_seconds: must be a finite number > 0, got 0"),
        ("checkout_timeout_seconds", math.inf, "checkout_timeout_seconds: must be a finite"),
        ("stale_periods", 1, "stale_periods: must be a finite number >= 2, got 1"),
        ("error_window_seconds", 0.5, "error_window_seconds: must be a finite number >= 1"),
        ("liveness_stale_seconds", 1, "liveness_stale_seconds: must be a finite number >= 2"),
        # fractions in (0, 1]
        ("memory_limit_fraction", 7, "memory_limit_fraction: must be a finite number > 0 and <= 1"),
        ("memory_limit_fraction", 0, "memory_limit_fraction: must be a finite number > 0"),
        # percents in [0, 100]
        ("error_degraded_percent", -1, "error_degraded_percent: must be a finite number >= 0 and"),
        ("error_unhealthy_percent", 101, "error_unhealthy_percent: must be a finite number >= 0"),
        ("memory_degraded_mb", 0, "memory_degraded_mb: must be a finite number > 0, got 0"),
        ("memory_unhealthy_mb", math.nan, "memory_unhealthy_mb: must be a finite number > 0"),
        # counts >= 1, whole
        ("ping_failures", 0, "ping_failures: must be an integer >= 1, got 0"),
        ("ping_failures", 2.5, "ping_failures: must be an integer >= 1, got 2.5"),
        ("error_min_operations", -3, "error_min_operations: must be an integer >= 1, got -3"),
        ("error_min_operations", True, "error_min_operations: must be an integer >= 1, got True"),
    ],
)
def test_a_bad_field_is_refused_by_name(field, value, message):
    with pytest.raises(ValueError) as raised:
        Thresholds(**{field: value})
    assert str(raised.value).startswith(message)
    assert str(raised.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"error_degraded_percent": 6.0},
         "error_degraded_percent: must be <= error_unhealthy_percent (5), got 6"),
        ({"memory_degraded_mb": 600},
         "memory_degraded_mb: must be <= memory_unhealthy_mb (500), got 600"),
    ],
)  # fmt: skip
def test_degraded_must_not_exceed_unhealthy(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Thresholds(**fields)


@pytest.mark.parametrize(
    "fields",
    [
        {"interval_seconds": 0.1},
        {"memory_limit_fraction": 1.0},
        {"error_degraded_percent": 0, "error_unhealthy_percent": 0},
        {"error_degraded_percent": 100, "error_unhealthy_percent": 100},
        {"memory_degraded_mb": 500},  # equal to unhealthy: allowed
        {"ping_failures": 1, "error_min_operations": 1},
        {"stale_periods": 2, "liveness_stale_seconds": 2},
        {"interval_seconds": 1, "ping_timeout_seconds": 1},  # ints for float fields
    ],
)
def test_the_bounds_themselves_are_allowed(fields):
    th = Thresholds(**fields)
    for name, value in fields.items():
        assert getattr(th, name) == value
