"""deploy/helm/dagster-values.yaml against the values schema of Dagster's chart (an extract of the chart's
values.schema.json, deploy/helm/dagster-chart.values.schema.extract.json; no cluster or helm here). Helm validates the
values merged with the chart's own defaults, so `required` is left to those defaults; every key set here and its
type are checked, and a key the chart does not know fails. The values agree with what `monkeytown up` runs."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from jsonschema import Draft7Validator

from orchestration.instance import instance_yaml
from orchestration.workspace import code_server_command
from tests.deploy.files import DEPLOY, documents

VALUES = DEPLOY / "helm" / "dagster-values.yaml"
SCHEMA = DEPLOY / "helm" / "dagster-chart.values.schema.extract.json"


def without_required(schema):
    if isinstance(schema, dict):
        return {key: without_required(value) for key, value in schema.items() if key != "required"}
    if isinstance(schema, list):
        return [without_required(item) for item in schema]
    return schema


def without_kubernetes_refs(schema):
    """The chart's schema refers to Kubernetes' own definitions by URL (probes, resources, env sources); there is
    no network here, so those refs go and only the types beside them (object, array) are checked."""
    if isinstance(schema, dict):
        return {key: without_kubernetes_refs(value) for key, value in schema.items()
                if not (key == "$ref" and value.startswith("https://"))}
    if isinstance(schema, list):
        return [without_kubernetes_refs(item) for item in schema]
    return schema


def chart_validator() -> Draft7Validator:
    return Draft7Validator(without_kubernetes_refs(without_required(json.loads(SCHEMA.read_text()))))


def values() -> dict:
    [document] = documents(VALUES)
    return document


def test_the_values_validate_against_the_chart_s_schema():
    errors = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
              for error in chart_validator().iter_errors(values())]
    assert errors == []


@pytest.mark.parametrize("break_it", [
    lambda v: v["dagster-user-deployments"]["deployments"][0].update(port="3030"),
    lambda v: v["runLauncher"]["config"]["k8sRunLauncher"].update(envSecret=[{"name": "x"}]),
    lambda v: v["dagsterDaemon"]["runCoordinator"].update(type="FifoRunCoordinator"),
    lambda v: v.update(dagit={"replicaCount": 1}),
])
def test_the_check_refuses_what_the_chart_would(break_it):
    broken = copy.deepcopy(values())
    break_it(broken)
    assert list(chart_validator().iter_errors(broken))


def test_the_code_location_runs_as_a_user_code_deployment_serving_what_serve_code_server_serves():
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    ours = code_server_command("dagster", "0.0.0.0", deployment["port"])
    options = dict(zip(ours[3::2], ours[4::2], strict=True))
    options["--working-directory"] = "/opt/monkeytown"  # where the image keeps the repository
    del options["--host"], options["--port"]  # the chart adds -h 0.0.0.0 -p <port> itself
    assert dict(zip(deployment["codeServerArgs"][::2], deployment["codeServerArgs"][1::2], strict=True)) == options
    assert {"name": "monkeytown-secrets"} in deployment["envSecrets"]
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}  # the runs get the same settings


def test_runs_are_kubernetes_jobs_with_the_platform_s_settings():
    launcher = values()["runLauncher"]
    assert launcher["type"] == "K8sRunLauncher"
    assert {"name": "monkeytown-secrets"} in launcher["config"]["k8sRunLauncher"]["envSecrets"]


def test_the_instance_is_postgresql_backed_by_an_external_server():
    postgresql = values()["postgresql"]
    assert postgresql["enabled"] is False and postgresql["postgresqlHost"]
    assert postgresql["postgresqlDatabase"].endswith("_dagster")  # beside the platform's, as `up` names it
    assert values()["generatePostgresqlPasswordSecret"] is False and values()["global"]["postgresqlSecretName"]


def test_the_run_queue_and_tick_retention_are_the_ones_monkeytown_up_runs():
    ours = yaml.safe_load(instance_yaml())
    queue = values()["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queue["maxConcurrentRuns"] == ours["run_coordinator"]["config"]["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == ours["run_coordinator"]["config"]["tag_concurrency_limits"]
    assert values()["dagsterDaemon"]["runRetries"]["enabled"] is ours["run_retries"]["enabled"]
    for kind in ("schedule", "sensor"):
        days = values()["retention"][kind]["purgeAfterDays"]
        assert {k: v for k, v in days.items() if k != "started"} == ours["retention"][kind]["purge_after_days"]


def test_the_code_location_and_the_api_run_the_same_image():
    [deployment] = values()["dagster-user-deployments"]["deployments"]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    [api] = [m for m in documents(DEPLOY / "kubernetes" / "api.yaml") if m["kind"] == "Deployment"]
    assert api["spec"]["template"]["spec"]["containers"][0]["image"] == image
