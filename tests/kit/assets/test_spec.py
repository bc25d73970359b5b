"""The spec: defaults, and every mistake reported as one line naming the field."""

from __future__ import annotations

import pytest

from exporter.assets import SpecError, load_spec, parse_spec
from exporter.assets.spec import MIB

BASE = {"namespace": "shop", "runbook_url": "https://example.com/runbooks.md"}


def problems(**fields: object) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec({**BASE, **fields})
    return caught.value.problems


def test_two_fields_are_enough_and_the_defaults_are_a_kit_users():
    spec = parse_spec(BASE)
    assert spec.job == "shop" and spec.title == "shop"
    assert spec.slo.source == "http" and spec.slo.availability == 0.999
    assert spec.parts.http and spec.parts.operations and spec.parts.health
    assert not spec.parts.database and spec.parts.workers == 1
    assert spec.thresholds.memory_bytes == 500 * MIB


def test_required_fields_are_named():
    with pytest.raises(SpecError) as caught:
        parse_spec({})
    assert caught.value.problems == ["spec.namespace: required", "spec.runbook_url: required"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"slo": {"availability": {"objective": 1.5}}},
            "spec.slo.availability.objective: must be between 0 and 1 (exclusive), got 1.5",
        ),
        (
            {"slo": {"availability": {"objective": 0.9}}},
            "spec.slo.availability.objective: must be at least 0.95",
        ),
        (
            {"slo": {"availability": {"objective": "high"}}},
            'spec.slo.availability.objective: must be a number, got "high"',
        ),
        ({"namespace": "my-shop"}, "spec.namespace: must be a Prometheus name prefix"),
        ({"runbook_url": "docs/runbooks.md"}, "spec.runbook_url: must be an http(s) URL"),
        (
            {"slo": {"latency": {"threshold_seconds": 0.3, "target": 0.99}}},
            "spec.slo.latency.threshold_seconds: must be one of the histogram's bucket bounds",
        ),
        (
            {"slo": {"latency": {"threshold_seconds": 0.25}}},
            "spec.slo.latency.target: required with the other latency field",
        ),
        (
            {"slo": {"requests": "operations"}},
            'spec.slo.operations: required when requests = "operations"',
        ),
        ({"slo": {"requests": "grpc"}}, "spec.slo.requests: must be one of http, operations"),
        ({"parts": {"workers": 0}}, "spec.parts.workers: must be >= 1, got 0"),
        ({"parts": {"databse": True}}, "spec.parts.databse: unknown field (a typo?)"),
        (
            {"parts": {"health": False, "health_checks": ["prices"]}},
            "spec.parts.health_checks: needs parts.health = true",
        ),
        ({"parts": {"http": False}}, 'spec.slo.requests: "http" needs parts.http = true'),
        (
            {"thresholds": {"error_ratio": 5}},
            "spec.thresholds.error_ratio: must be between 0 and 1 (exclusive), got 5.0",
        ),
        (
            {"paging": {"page": ["HighMemory"], "ticket": ["HighMemory"]}},
            "spec.paging.ticket: HighMemory is also listed under page",
        ),
        (
            {"paging": {"labels": {"severity": "x"}}},
            'spec.paging.labels: "severity" cannot be an alert label here',
        ),
        (
            {"kubernetes": {"interval": "often"}},
            'spec.kubernetes.interval: must be a duration like "15s", got "often"',
        ),
    ],
)
def test_each_mistake_is_one_line_naming_the_field(fields, expected):
    found = problems(**fields)
    assert len(found) == 1, found
    assert found[0].startswith(expected), found


def test_every_mistake_is_reported_at_once():
    found = problems(namespace="a-b", parts={"workers": -1}, thresholds={"pool_saturation": 2})
    assert [p.split(":")[0] for p in found] == [
        "spec.namespace",
        "spec.parts.workers",
        "spec.thresholds.pool_saturation",
    ]


def test_paging_names_must_be_alerts_of_the_spec():
    from exporter.assets import generate

    spec = parse_spec({**BASE, "paging": {"page": ["DatabaseDown"]}})  # no database part
    with pytest.raises(SpecError, match=r"spec.paging.page: DatabaseDown is not an alert"):
        generate(spec)


def test_load_spec_reads_toml_and_names_a_syntax_error(tmp_path):
    good = tmp_path / "ok.toml"
    good.write_text(
        'namespace = "shop"\nrunbook_url = "https://e.com/r.md"\n[parts]\ndatabase = true\n'
    )
    assert load_spec(good).parts.database
    bad = tmp_path / "bad.toml"
    bad.write_text("namespace = shop\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
