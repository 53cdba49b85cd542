"""deploy/: both kustomizations render with the real kubectl, every object validates against the
Kubernetes schema, and the properties that keep the cluster safe hold on the rendered objects."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.kube import K8S_VERSION, kustomize
from webhook import __version__
from webhook.policy.load import parse_policy_set, policy_files
from webhook.tools.cli import build_parser

REPO = Path(__file__).resolve().parent.parent
Obj = dict[str, Any]

NAMESPACE = "pod-placement-webhook"
SYSTEM_NAMESPACES = ["kube-system", "kube-public", "kube-node-lease", NAMESPACE]
OPT_OUT = {"pod-placement-webhook/ignore": "true"}
CERT_MANAGER_KINDS = {"Issuer", "Certificate"}
CLUSTER_SCOPED = {
    "Namespace",
    "PriorityClass",
    "MutatingWebhookConfiguration",
    "ClusterRole",
    "ClusterRoleBinding",
}


def render(directory: Path) -> list[Obj]:
    return kustomize(directory)


@pytest.fixture(scope="module")
def base() -> list[Obj]:
    return render(REPO / "deploy")


@pytest.fixture(scope="module")
def cert_manager() -> list[Obj]:
    return render(REPO / "deploy" / "cert-manager")


# The configuration's two entries: pods, and the Jobs and workflows that get retries.
POD_WEBHOOK = "pod-placement-webhook.pod-placement-webhook.svc"
RETRIES_WEBHOOK = "pod-placement-webhook.workload-retries.svc"


def entry(config: Obj, name: str) -> Obj:
    """The webhook of that name in a MutatingWebhookConfiguration."""
    (found,) = [w for w in config["webhooks"] if w["name"] == name]
    hook: Obj = found
    return hook


def one(objects: list[Obj], kind: str, name: str | None = None) -> Obj:
    found = [
        o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def selects(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def namespace_labels(name: str, **extra: str) -> dict[str, str]:
    # The apiserver sets this label on every namespace (1.21+).
    return {"kubernetes.io/metadata.name": name, **extra}


# --- rendering and schemas ------------------------------------------------------------------


# The version the other tests validate against, and the newest the package knows.
VERSIONS = sorted({K8S_VERSION, kubernetes_validate.latest_version()})


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("which", ["base", "cert_manager"])
def test_every_object_validates(which: str, version: str, request: pytest.FixtureRequest) -> None:
    objects: list[Obj] = request.getfixturevalue(which)
    for obj in objects:
        if obj["kind"] in CERT_MANAGER_KINDS:
            continue  # a CRD: no schema in kubernetes-validate, checked by shape below
        kubernetes_validate.validate(obj, version, strict=True)


def test_base_has_every_piece(base: list[Obj]) -> None:
    kinds = {o["kind"] for o in base}
    assert kinds >= {
        "Namespace",
        "ServiceAccount",
        "PriorityClass",
        "ConfigMap",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "MutatingWebhookConfiguration",
    }
    assert "Secret" not in kinds, "certificates come from `placement-webhook certs` or cert-manager"
    for obj in base:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


# --- the webhook configuration --------------------------------------------------------------


@pytest.fixture(scope="module")
def webhook(base: list[Obj]) -> Obj:
    config = one(base, "MutatingWebhookConfiguration")
    assert [w["name"] for w in config["webhooks"]] == [POD_WEBHOOK, RETRIES_WEBHOOK]
    return entry(config, POD_WEBHOOK)


def test_a_down_webhook_never_blocks_pod_creation(webhook: Obj) -> None:
    assert webhook["failurePolicy"] == "Ignore"
    assert 1 <= webhook["timeoutSeconds"] <= 5


def test_only_pod_creation_is_sent(webhook: Obj) -> None:
    assert webhook["rules"] == [
        {
            "operations": ["CREATE"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods"],
            "scope": "Namespaced",
        }
    ]


def test_contract_fields(webhook: Obj) -> None:
    assert webhook["admissionReviewVersions"] == ["v1", "v1beta1"]
    assert webhook["sideEffects"] == "None"
    assert webhook["reinvocationPolicy"] == "IfNeeded"
    # The apiserver stores audit annotations as "<webhook name>/<key>": a qualified name.
    assert webhook["name"].count(".") >= 2 and len(webhook["name"]) <= 253


@pytest.mark.parametrize("name", SYSTEM_NAMESPACES)
def test_system_namespaces_and_our_own_are_never_sent(webhook: Obj, name: str) -> None:
    assert not selects(webhook["namespaceSelector"], namespace_labels(name))


def test_ordinary_namespaces_are_sent_unless_opted_out(webhook: Obj) -> None:
    assert selects(webhook["namespaceSelector"], namespace_labels("ml", team="ml"))
    assert not selects(webhook["namespaceSelector"], namespace_labels("ml", **OPT_OUT))
    # Any other value keeps the namespace in: only "true" opts out.
    assert selects(
        webhook["namespaceSelector"],
        namespace_labels("ml", **{"pod-placement-webhook/ignore": "false"}),
    )


def test_a_labelled_pod_opts_out(webhook: Obj) -> None:
    assert selects(webhook["objectSelector"], {"app": "x"})
    assert not selects(webhook["objectSelector"], {"app": "x", **OPT_OUT})


def test_own_namespace_is_labelled_out_too(base: list[Obj]) -> None:
    namespace = one(base, "Namespace")
    assert namespace["metadata"]["name"] == NAMESPACE
    assert namespace["metadata"]["labels"].items() >= OPT_OUT.items()
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_match_conditions_only_skip_mirror_pods(webhook: Obj) -> None:
    (condition,) = webhook["matchConditions"]
    assert condition["name"] == "not-a-mirror-pod"
    assert "kubernetes.io/config.mirror" in condition["expression"]


def test_webhook_calls_the_service_on_the_mutate_path(base: list[Obj], webhook: Obj) -> None:
    ref = webhook["clientConfig"]["service"]
    assert ref["path"] == "/mutate"
    service = one(base, "Service", ref["name"])
    assert service["metadata"]["namespace"] == ref["namespace"]
    (port,) = service["spec"]["ports"]
    assert port["port"] == ref["port"] == 443
    container = webhook_container(base)
    target = {p["name"]: p["containerPort"] for p in container["ports"]}[port["targetPort"]]
    assert f"--port={target}" in container["args"]
    assert selects({"matchLabels": service["spec"]["selector"]}, pod_labels(base))


# --- the Deployment ---------------------------------------------------------------------------


def pod_spec(objects: list[Obj]) -> Obj:
    spec: Obj = one(objects, "Deployment")["spec"]["template"]["spec"]
    return spec


def pod_labels(objects: list[Obj]) -> dict[str, str]:
    labels: dict[str, str] = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    return labels


def webhook_container(objects: list[Obj]) -> Obj:
    (container,) = pod_spec(objects)["containers"]
    result: Obj = container
    return result


def test_at_least_two_replicas_owned_by_the_autoscaler(base: list[Obj]) -> None:
    deployment = one(base, "Deployment")
    # No replicas in the manifest: `kubectl apply` would reset the autoscaler's count.
    assert "replicas" not in deployment["spec"]
    hpa = one(base, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    assert rolling["maxUnavailable"] == 0 and rolling["maxSurge"] >= 1


def test_disruption_budget_keeps_a_replica_up(base: list[Obj]) -> None:
    pdb = one(base, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"], pod_labels(base))
    hpa = one(base, "HorizontalPodAutoscaler")
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def test_replicas_spread_over_nodes(base: list[Obj]) -> None:
    (term,) = pod_spec(base)["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert term["weight"] == 100
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert selects(term["podAffinityTerm"]["labelSelector"], pod_labels(base))


def test_base_is_cloud_neutral_and_never_on_spot(base: list[Obj]) -> None:
    spec = pod_spec(base)
    # Which pool, and its taint, is a component's choice (tests/test_deploy_overlays.py).
    assert "nodeSelector" not in spec and "tolerations" not in spec
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    spot_nodes = [
        {"eks.amazonaws.com/capacityType": "SPOT"},
        {"karpenter.sh/capacity-type": "spot"},
        {"cloud.google.com/gke-spot": "true"},
        {"cloud.google.com/gke-preemptible": "true"},
        {"kubernetes.azure.com/scalesetpriority": "spot"},
        {"node-lifecycle": "spot"},
    ]
    for labels in spot_nodes:
        assert not selects({"matchExpressions": term["matchExpressions"]}, labels), labels
    for on_demand in (
        {"ng-name": "system", "eks.amazonaws.com/capacityType": "ON_DEMAND"},
        {"kubernetes.io/hostname": "kind-worker"},  # a cluster with none of these labels
    ):
        assert selects({"matchExpressions": term["matchExpressions"]}, on_demand)


def test_priority_class_exists(base: list[Obj]) -> None:
    priority = one(base, "PriorityClass", pod_spec(base)["priorityClassName"])
    assert priority["value"] > 0 and priority["globalDefault"] is False


def test_locked_down_security_context(base: list[Obj]) -> None:
    spec = pod_spec(base)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] > 0
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = webhook_container(base)["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_no_service_account_token(base: list[Obj]) -> None:
    assert pod_spec(base)["automountServiceAccountToken"] is False
    account = one(base, "ServiceAccount", pod_spec(base)["serviceAccountName"])
    assert account["automountServiceAccountToken"] is False


def test_probes_use_the_plain_http_health_port(base: list[Obj]) -> None:
    container = webhook_container(base)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--health-port={ports['health']}" in container["args"]
    assert ports["health"] != ports["https"]
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert (get["path"], get["port"], get["scheme"]) == (path, "health", "HTTP")


def test_rolling_updates_drop_no_request(base: list[Obj]) -> None:
    container = webhook_container(base)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    # The pause, then uvicorn's graceful shutdown (20 s in webhook/serving/serve.py), must fit.
    assert pod_spec(base)["terminationGracePeriodSeconds"] >= pause + 20


def test_resources_are_bounded(base: list[Obj]) -> None:
    resources = webhook_container(base)["resources"]
    for kind in ("requests", "limits"):
        assert set(resources[kind]) == {"cpu", "memory"}, kind


def test_mounts_are_directories_the_server_reads(base: list[Obj]) -> None:
    container = webhook_container(base)
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert all("subPath" not in m for m in mounts.values()), "subPath mounts never update"
    volumes = {v["name"]: v for v in pod_spec(base)["volumes"]}
    args = dict(a.removeprefix("--").split("=", 1) for a in container["args"][1:])
    assert args["policies"] == mounts["policies"]["mountPath"]
    assert args["cert-file"] == mounts["tls"]["mountPath"] + "/tls.crt"
    assert args["key-file"] == mounts["tls"]["mountPath"] + "/tls.key"
    config_map = one(base, "ConfigMap", volumes["policies"]["configMap"]["name"])
    assert config_map["metadata"]["namespace"] == NAMESPACE
    assert volumes["tls"]["secret"]["secretName"] == "pod-placement-webhook-tls"


def test_image_tag_is_the_package_version(base: list[Obj]) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dynamic"] == ["version"], "one version source: webhook.__version__"
    assert webhook_container(base)["image"] == f"pod-placement-webhook:{__version__}"


# --- the policies ConfigMap -----------------------------------------------------------------


def test_policy_config_map_is_exactly_the_shipped_policies(base: list[Obj]) -> None:
    data = one(base, "ConfigMap")["data"]
    shipped = {p.name: p.read_text() for p in policy_files(REPO / "policies")}
    assert set(data) == set(shipped), "policies/Kustomization must list every policy file"
    assert data == shipped
    parse_policy_set((name, text.encode()) for name, text in data.items())


# --- the cert-manager overlay ---------------------------------------------------------------


def test_cert_manager_overlay_is_the_base_plus_certificates(
    base: list[Obj], cert_manager: list[Obj]
) -> None:
    def key(o: Obj) -> tuple[str, str]:
        return o["kind"], o["metadata"]["name"]

    extra = {key(o) for o in cert_manager} - {key(o) for o in base}
    assert {kind for kind, _ in extra} == CERT_MANAGER_KINDS
    changed = [key(o) for o in cert_manager if key(o) not in extra and o not in base]
    assert changed == [("MutatingWebhookConfiguration", "pod-placement-webhook")]
    assert (
        "caBundle"
        not in one(cert_manager, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]
    )


def test_cert_manager_certificate_serves_the_service_name(cert_manager: list[Obj]) -> None:
    for obj in cert_manager:
        if obj["kind"] in CERT_MANAGER_KINDS:
            assert obj["apiVersion"] == "cert-manager.io/v1"
            assert obj["metadata"]["namespace"] == NAMESPACE
    issuers = {o["metadata"]["name"]: o["spec"] for o in cert_manager if o["kind"] == "Issuer"}
    certificates = {
        o["metadata"]["name"]: o["spec"] for o in cert_manager if o["kind"] == "Certificate"
    }
    for spec in certificates.values():
        assert spec["issuerRef"]["kind"] == "Issuer"
        assert spec["issuerRef"]["name"] in issuers
    # The serving certificate comes from the CA issuer, which signs with the CA certificate's
    # Secret; the CA certificate comes from the self-signed issuer.
    (ca_name,) = [n for n, s in certificates.items() if s.get("isCA")]
    (serving_name,) = [n for n, s in certificates.items() if not s.get("isCA")]
    ca_issuer = issuers[certificates[serving_name]["issuerRef"]["name"]]
    assert ca_issuer == {"ca": {"secretName": certificates[ca_name]["secretName"]}}
    assert issuers[certificates[ca_name]["issuerRef"]["name"]] == {"selfSigned": {}}
    # The serving certificate: the Secret the Deployment mounts, the names the apiserver uses.
    serving = certificates["pod-placement-webhook"]
    volumes = {v["name"]: v for v in pod_spec(cert_manager)["volumes"]}
    assert serving["secretName"] == volumes["tls"]["secret"]["secretName"]
    assert f"pod-placement-webhook.{NAMESPACE}.svc" in serving["dnsNames"]
    assert "server auth" in serving["usages"]
    assert serving["privateKey"]["rotationPolicy"] == "Always"
    hook = one(cert_manager, "MutatingWebhookConfiguration")
    assert hook["metadata"]["annotations"]["cert-manager.io/inject-ca-from"] == (
        f"{NAMESPACE}/pod-placement-webhook"
    )


# --- the serving port -----------------------------------------------------------------------


def test_the_webhook_port_is_one_restricted_control_planes_reach(base: list[Obj]) -> None:
    # GKE private clusters let the control plane reach nodes on 443 and 10250 only, and so do
    # EKS's minimal security-group rules; 443 needs a privilege the pod drops.
    container = webhook_container(base)
    port = {p["name"]: p["containerPort"] for p in container["ports"]}["https"]
    assert port == 10250
    serve = build_parser().parse_args(["serve"])
    assert serve.port == port, "the server's default --port is the Deployment's"
    exposed = [
        line.split()[1:]
        for line in (REPO / "Dockerfile").read_text().splitlines()
        if line.startswith("EXPOSE")
    ]
    assert exposed == [[str(port), str(serve.health_port)]]
