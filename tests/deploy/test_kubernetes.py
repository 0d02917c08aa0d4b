"""deploy/kubernetes/, read (no cluster here): the API's Deployment runs `monkeytown serve api`, is ready on /readyz
and alive on /healthz, takes its settings from the ConfigMap and the Secret, and scales on CPU."""

from __future__ import annotations

from monkeytown.cli.serve import ROLES
from tests.deploy.files import DEPLOY, documents


def manifests() -> dict[str, dict]:
    found = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for manifest in documents(path):
            found[manifest["kind"]] = manifest
    return found


def api_container() -> dict:
    [container] = manifests()["Deployment"]["spec"]["template"]["spec"]["containers"]
    return container


def test_the_api_runs_monkeytown_serve_api():
    command = api_container()["command"]
    assert command[command.index("monkeytown"):] == ["monkeytown", "serve", "api"]
    assert "api" in ROLES


def test_readiness_is_readyz_and_liveness_healthz_on_the_port_the_api_listens_on():
    container = api_container()
    [port] = container["ports"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    settings = manifests()["ConfigMap"]["data"]
    assert int(settings["MONKEYTOWN_API_PORT"]) == port["containerPort"]


def test_settings_come_from_the_configmap_and_the_secret():
    sources = api_container()["envFrom"]
    assert {"configMapRef": {"name": manifests()["ConfigMap"]["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": "monkeytown-secrets"}} in sources
    assert "env" not in api_container()  # nothing set inline, so nothing secret in the manifest


def test_the_service_selects_the_api_pods_and_the_autoscaler_scales_them_on_cpu():
    found = manifests()
    pods = found["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert found["Service"]["spec"]["selector"].items() <= pods.items()
    assert found["Deployment"]["spec"]["selector"]["matchLabels"].items() <= pods.items()
    autoscaler = found["HorizontalPodAutoscaler"]["spec"]
    assert autoscaler["scaleTargetRef"]["name"] == found["Deployment"]["metadata"]["name"]
    [metric] = autoscaler["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    # a utilization target needs a CPU request to measure against
    assert api_container()["resources"]["requests"]["cpu"]


def test_the_pod_stops_within_its_grace_and_runs_as_the_image_s_user():
    spec = manifests()["Deployment"]["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] > 15  # serve's own grace for the service
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
