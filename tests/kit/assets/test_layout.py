"""A team's own layout and needs: ``[files]`` places each generated file (and the rule tests
still load the rules), ``[kubernetes] pod_labels`` puts pod labels on every series, and an
extension's runbook notes reach the kit's alerts' sections."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from exporter.assets import Extension, SpecError, generate, parse_spec, write
from tests.kit.assets.helpers import ROOT, SPECS, run

SCHEMAS = ROOT / "tests" / "data" / "prometheus-operator"
LAYOUT = {
    "prometheus/recording.rules.yml": "ops/rules/recording.rules.yml",
    "prometheus/alerts.rules.yml": "ops/rules/alerts.rules.yml",
    "prometheus/tests/alerts_test.yml": "ci/promtool/alerts_test.yml",
    "runbooks.md": "docs/runbooks.md",
}


@pytest.mark.slow
def test_files_go_where_the_spec_places_them_and_the_tests_load_the_placed_rules(tmp_path):
    s = parse_spec({**SPECS["billing-no-database"], "files": LAYOUT})
    files = generate(s)
    assert set(LAYOUT.values()) <= set(files)
    assert not set(LAYOUT) & set(files)  # placed, not copied
    assert "grafana/billing-overview.json" in files  # the others keep their names
    tests = yaml.safe_load(files["ci/promtool/alerts_test.yml"])
    assert tests["rule_files"] == ["../../ops/rules/recording.rules.yml",
                                   "../../ops/rules/alerts.rules.yml"]  # fmt: skip
    write(files, tmp_path)
    tested = run("promtool", "test", "rules", "alerts_test.yml", cwd=tmp_path / "ci" / "promtool")
    assert tested.returncode == 0, tested.stdout + tested.stderr


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ({"prometheus/typo.yml": "x.yml"}, "is not a generated file"),
        ({"runbooks.md": "/etc/runbooks.md"}, "must be a relative path"),
        ({"runbooks.md": "../runbooks.md"}, "must be a relative path"),
        ({"runbooks.md": "prometheus/alerts.rules.yml"}, "two files placed at the same path"),
    ],
)
def test_a_bad_placement_is_one_line_naming_the_field(files, problem):
    with pytest.raises(SpecError) as caught:
        parse_spec({**SPECS["billing-no-database"], "files": files})
    (line,) = caught.value.problems
    assert line.startswith("spec.files: ") and problem in line


def test_pod_labels_become_target_labels_of_every_series():
    kubernetes = {"pod_labels": {"track": "track", "app.kubernetes.io/version": "deployed"}}
    s = parse_spec({**SPECS["billing-no-database"], "kubernetes": kubernetes})
    monitor = yaml.safe_load(generate(s)["kubernetes/servicemonitor.yaml"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["relabelings"] == [
        {"targetLabel": "job", "replacement": "billing", "action": "replace"},
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_track"],
            "targetLabel": "track",
            "action": "replace",
        },
        {
            "sourceLabels": ["__meta_kubernetes_pod_label_app_kubernetes_io_version"],
            "targetLabel": "deployed",
            "action": "replace",
        },
    ]
    schema = json.loads((SCHEMAS / "servicemonitor.schema.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(monitor)
    for bad in ({"track": "job"}, {"track": "__name__"}, {"track": "not a label"}):
        with pytest.raises(SpecError, match=r"spec\.kubernetes\.pod_labels: pod label track"):
            parse_spec({**SPECS["billing-no-database"], "kubernetes": {"pod_labels": bad}})


def test_notes_add_a_services_advice_to_a_kit_alert_and_must_name_an_alert(tmp_path: Path):
    s = parse_spec(SPECS["billing-no-database"])
    note = "**Here.** Our payments provider's status page first."
    runbooks = generate(s, [Extension("advice", notes={"HighErrorRate": note})])["runbooks.md"]
    section = runbooks.split("\n## HighErrorRate\n", 1)[1].split("\n## ", 1)[0]
    assert note in section
    assert runbooks.count(note) == 1
    with pytest.raises(SpecError, match="a runbook note for DatabaseDown, which is not an alert"):
        generate(s, [Extension("advice", notes={"DatabaseDown": note})])  # no database here
    toml_notes = {"name": "advice", "notes": {"HighErrorRate": note}}
    from_toml = parse_spec({**SPECS["billing-no-database"], "extend": [toml_notes]})
    assert note in generate(from_toml)["runbooks.md"]
