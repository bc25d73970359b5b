"""The dashboard passes the lint and its queries parse; the Kubernetes objects validate
against the Prometheus Operator's schemas; Alertmanager accepts the route and sends pages
and tickets where the spec says; extensions reach every output; the command's --check."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from exporter.assets import (
    Alert,
    AlertCase,
    Extension,
    Panel,
    Query,
    RecordingRule,
    Row,
    RunbookSection,
    SpecError,
    generate,
    parse_spec,
    ruleset,
)
from exporter.assets.cli import main
from exporter.assets.lint import lint, queries
from exporter.assets.series import Series
from tests.kit.assets.helpers import (
    EXAMPLE_OUTPUT,
    EXAMPLE_SPEC,
    ROOT,
    SPECS,
    run,
    spec,
    written,
)

NAMES = sorted(SPECS)
SCHEMAS = ROOT / "tests" / "data" / "prometheus-operator"


def dashboard_of(files: dict[str, str]) -> dict:
    (name,) = [n for n in files if n.startswith("grafana/")]
    return json.loads(files[name])


def lint_of(
    files: dict[str, str], namespace: str, extra: frozenset[str] = frozenset()
) -> list[str]:
    recorded = frozenset(
        r["record"]
        for g in yaml.safe_load(files["prometheus/recording.rules.yml"])["groups"]
        for r in g["rules"]
    )
    metrics = Series(namespace).all_exposed() | extra
    return lint(dashboard_of(files), metrics=metrics, recorded=recorded)


# -- dashboard ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_dashboard_passes_the_lint(name):
    s = spec(name)
    assert lint_of(generate(s), s.namespace) == []


def test_lint_catches_each_kind_of_violation():
    files = generate(spec("billing-no-database"))
    good = dashboard_of(files)
    panel = next(p for p in good["panels"] if p["title"] == "Request rate by route")
    expr = panel["targets"][0]["expr"]

    def with_panel(**changes: object) -> list[str]:
        broken = json.loads(json.dumps(good))
        target = next(p for p in broken["panels"] if p["title"] == "Request rate by route")
        target.update({k: v for k, v in changes.items() if k != "expr"})
        if "expr" in changes:
            target["targets"][0]["expr"] = changes["expr"]
        files["grafana/billing-overview.json"] = json.dumps(broken)
        return lint_of(files, "billing")

    assert with_panel() == []
    assert with_panel(expr=expr.replace("$__rate_interval", "5m"))
    assert with_panel(expr='sum(billing_http_requests_total{job=~"$job", instance=~"$instance"})')
    assert with_panel(expr=expr.replace("billing_http_requests_total", "billing_typo_total"))
    assert with_panel(expr=expr.replace('job=~"$job", ', ""))
    assert with_panel(expr=expr.replace("$job", "$tenant"))
    assert with_panel(expr='job:billing_nothing:rate5m{job=~"$job"}')
    assert with_panel(description="")
    assert with_panel(fieldConfig={"defaults": {}})
    assert with_panel(datasource={"type": "prometheus", "uid": "prometheus"})


def test_a_spec_without_a_database_gets_no_database_panel():
    files = generate(spec("billing-no-database"))
    titles = [p["title"] for p in dashboard_of(files)["panels"]]
    assert "Database" not in titles and "Pool connections" not in titles
    assert "Database" in [
        p["title"] for p in dashboard_of(generate(spec("ledger-database-workers")))["panels"]
    ]
    assert {"HTTP requests by route", "Operations", "Health", "Process", "SLO"} <= set(titles)


@pytest.mark.parametrize("name", NAMES)
def test_every_query_parses_as_promql(name, tmp_path):
    files = generate(spec(name))
    found = queries(dashboard_of(files), {"job": "x"}, rate_interval="1m", range_="30d")
    rules = [{"record": f"dashboard:query_{i}", "expr": q.promql} for i, q in enumerate(found)]
    path = tmp_path / "queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]}))
    result = run("promtool", "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


# -- Kubernetes and Alertmanager ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_kubernetes_objects_validate_against_the_operator_schemas(name):
    files = generate(spec(name))
    for kind, file in (
        ("prometheusrule", "prometheusrule.yaml"),
        ("servicemonitor", "servicemonitor.yaml"),
    ):
        schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text())
        document = yaml.safe_load(files[f"kubernetes/{file}"])
        jsonschema.validators.validator_for(schema)(schema).validate(document)
    rule = yaml.safe_load(files["kubernetes/prometheusrule.yaml"])
    groups = [
        g
        for key in ("recording", "alerts")
        for g in yaml.safe_load(files[f"prometheus/{key}.rules.yml"])["groups"]
    ]
    assert rule["spec"]["groups"] == groups


def test_the_schemas_can_fail():
    schema = json.loads((SCHEMAS / "servicemonitor.schema.json").read_text())
    document = yaml.safe_load(
        generate(spec("billing-no-database"))["kubernetes/servicemonitor.yaml"]
    )
    document["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validators.validator_for(schema)(schema).validate(document)


@pytest.mark.parametrize("name", NAMES)
def test_alertmanager_accepts_the_route_and_routes_by_severity(name, tmp_path):
    s = spec(name)
    config = written(s, tmp_path) / "alertmanager" / "alertmanager.yml"
    checked = run("amtool", "check-config", str(config))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    team = [f"{k}={v}" for k, v in s.paging.labels.items()] or [f"job={s.job}"]
    for severity, receiver in (
        ("page", s.alertmanager.page_receiver),
        ("ticket", s.alertmanager.ticket_receiver),
        ("warning", s.alertmanager.ticket_receiver),
    ):
        routed = run(
            "amtool",
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            *team,
            f"severity={severity}",
        )
        assert routed.stdout.strip() == receiver, (severity, routed.stdout, routed.stderr)
    other = run(
        "amtool",
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        "job=someone-else",
        "severity=page",
    )
    assert other.stdout.strip() == "default"


# -- extensions -------------------------------------------------------------------------------

CACHE_TOML = {
    "name": "cache",
    "series": ["billing_cache_requests_total"],
    "recording": [
        {
            "record": "job_cache:billing_cache_requests:rate5m",
            "expr": "sum by (job, cache) (rate(billing_cache_requests_total[5m]))",
        }
    ],
    "alert": [
        {
            "name": "CacheIdle",
            "expr": "job_cache:billing_cache_requests:rate5m == 0",
            "for": "10m",
            "severity": "warning",
            "summary": "cache {{ $labels.cache }} is idle",
            "description": "Cache {{ $labels.cache }} served {{ $value | humanize }} lookups/s.",
            "runbook": "**Means.** Nobody reads the cache.\n\n**Fix.** Look at the callers.",
            "test": [
                {
                    "series": [
                        {
                            "series": 'billing_cache_requests_total{job="billing", cache="a"}',
                            "values": "0+60x10 600+0x20 600+60x20",
                        }
                    ],
                    "quiet": ["9m"],
                    "firing": ["28m"],
                    "resolved": ["45m"],
                    "labels": {"job": "billing", "cache": "a"},
                    "value": 0,
                }
            ],
        }
    ],
    "panel": [
        {
            "row": "Caches",
            "title": "Cache lookups",
            "description": "Lookups a second.",
            "unit": "ops",
            "queries": [
                {
                    "expr": "sum by (cache) (rate(billing_cache_requests_total"
                    '{job=~"$job", instance=~"$instance"}[$__rate_interval]))'
                }
            ],
        }
    ],
    "runbook": [{"title": "Caches", "body": "The service's caches, and what to do about them."}],
}


@pytest.mark.slow  # promtool runs the whole generated test file
def test_an_extension_in_the_spec_reaches_every_output_and_is_proven(tmp_path):
    s = parse_spec({**SPECS["billing-no-database"], "extend": [CACHE_TOML]})
    files = generate(s)
    assert "job_cache:billing_cache_requests:rate5m" in files["prometheus/recording.rules.yml"]
    groups = yaml.safe_load(files["prometheus/alerts.rules.yml"])["groups"]
    assert groups[-1]["name"] == "billing.cache"
    assert "## CacheIdle" in files["runbooks.md"] and "## Caches" in files["runbooks.md"]
    assert "Cache lookups" in files["grafana/billing-overview.json"]
    assert lint_of(files, "billing", frozenset(CACHE_TOML["series"])) == []
    rules = written(s, tmp_path) / "prometheus"
    tested = run("promtool", "test", "rules", "alerts_test.yml", cwd=rules / "tests")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_an_extension_through_the_api_and_its_mistakes():
    case = AlertCase("q", (('x{job="billing"}', "1x5"),), ("1m",), ("2m",), ("3m",), {}, 1.0)
    ext = Extension(
        "queue",
        (RecordingRule("job:billing_queue:max", "max by (job) (billing_queue_depth)"),),
        (Alert("QueueDeep", "job:billing_queue:max > 5", "5m", "warning", "s", "d", "r", (case,)),),
        rows=(
            Row(
                "Queue",
                (
                    Panel(
                        "Depth",
                        "d",
                        "short",
                        (Query('billing_queue_depth{job=~"$job", instance=~"$instance"}'),),
                    ),
                ),
            ),
        ),
        runbooks=(RunbookSection("Queue", "about the queue"),),
        series=("billing_queue_depth",),
    )
    rules = ruleset(spec("billing-no-database"), [ext])
    assert rules.recording[-1].record == "job:billing_queue:max"
    assert "QueueDeep" in rules.names()
    unproven = Extension(
        "queue", alerts=(Alert("QueueDeep", "x", "5m", "warning", "s", "d", "r", ()),)
    )
    with pytest.raises(SpecError, match="alert QueueDeep has no proof"):
        generate(spec("billing-no-database"), [unproven])
    broken = {
        **CACHE_TOML,
        "alert": [
            {
                **CACHE_TOML["alert"][0],
                "test": [],  # type: ignore[dict-item]
                "summary": "{{ $value }}",
            }
        ],
    }
    with pytest.raises(SpecError) as caught:
        parse_spec({**SPECS["billing-no-database"], "extend": [broken]})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "spec.extend[0].alert[0].summary",
        "spec.extend[0].alert[0].test",
    ]


# -- the command ---------------------------------------------------------------------------


def test_the_committed_example_set_is_current():
    assert main([str(EXAMPLE_SPEC), "--check"]) == 0


def test_check_fails_on_drift_and_a_missing_file(tmp_path, capsys):
    spec_file = tmp_path / "svc.toml"
    spec_file.write_text('namespace = "svc"\nrunbook_url = "https://e.com/r.md"\n')
    assert main([str(spec_file), "--check"]) == 1  # nothing written yet
    assert main([str(spec_file)]) == 0
    out = tmp_path / "svc"
    assert (out / "prometheus" / "alerts.rules.yml").is_file()
    assert main([str(spec_file), "--check"]) == 0
    rules = out / "prometheus" / "alerts.rules.yml"
    rules.write_text(rules.read_text().replace("for: 5m", "for: 6m", 1))
    capsys.readouterr()
    assert main([str(spec_file), "--check"]) == 1
    assert "alerts.rules.yml is out of date" in capsys.readouterr().err


def test_a_bad_spec_exits_2_with_one_line_per_mistake(tmp_path, capsys):
    spec_file = tmp_path / "bad.toml"
    spec_file.write_text(
        'namespace = "svc"\nrunbook_url = "https://e.com/r.md"\n'
        "[slo.availability]\nobjective = 1.5\n"
    )
    assert main([str(spec_file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"{spec_file}: spec.slo.availability.objective: must be between 0 and 1 "
        "(exclusive), got 1.5"
    ]


def test_the_console_script_is_the_kits():
    import tomllib

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["exporter-assets"] == "exporter.assets.cli:main"
    assert Path(sys.executable).with_name("exporter-assets").exists()


def test_example_output_is_the_generators():
    files = generate(parse_spec(__import__("tomllib").loads(EXAMPLE_SPEC.read_text())))
    assert sorted(files) == sorted(
        str(p.relative_to(EXAMPLE_OUTPUT)) for p in EXAMPLE_OUTPUT.rglob("*") if p.is_file()
    )
