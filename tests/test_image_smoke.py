"""The built image, run as deploy/ runs it: the smoke test CI runs on every change.

`make image-debian` builds the Dockerfile unchanged but for its base (a stand-in for
python:3.11-slim-bookworm made from Debian packages: no registry is reachable here). The
container then runs with what the rendered Deployment asks for: its user and group, a read-only
root filesystem, every capability dropped, no privilege escalation, a tmpfs /tmp, its args, the
policy ConfigMap and the TLS Secret laid out as kubelet lays them out (`..data` symlinks, the
Secret's mode and the pod's fsGroup). Without a network of its own it is reached from inside its
network namespace (nsenter), by its Service's DNS name, verifying the CA as the apiserver does.

Needs root, buildah, podman, runc, mmdebstrap and nsenter (.ci/install-system-tools); skipped
without them, failed in CI (tests/system_tools.py).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509

from tests.container import (
    PODMAN,
    Container,
    make_certificates,
    mount_options,
    run_options,
    service_namespace,
    status_of,
    wait_for,
)
from tests.kube import validate_pod
from tests.kubelet import Volume
from tests.reviews import gpu_pod
from tests.system_tools import require
from tests.test_deploy import POD_WEBHOOK, REPO, Obj, entry, one, render

pytestmark = pytest.mark.timeout(900)

IMAGE = os.environ.get("PLACEMENT_WEBHOOK_IMAGE", "localhost/pod-placement-webhook:dev")
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


@pytest.fixture(scope="module")
def image() -> str:
    require("buildah", "podman", "runc", "mmdebstrap", "nsenter")
    # Cached layers make this a few seconds when CI has just built the same image.
    done = subprocess.run(
        ["make", "image-debian", f"IMAGE={IMAGE}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return IMAGE


@pytest.fixture(scope="module")
def rendered() -> list[Obj]:
    return render(REPO / "deploy")


@pytest.fixture(scope="module")
def container(
    image: str, rendered: list[Obj], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    root = tmp_path_factory.mktemp("pod")
    deployment = one(rendered, "Deployment")
    hook = entry(one(rendered, "MutatingWebhookConfiguration"), POD_WEBHOOK)
    service, namespace = hook["clientConfig"]["service"]["name"], service_namespace(hook)
    pod = deployment["spec"]["template"]["spec"]
    config_map = one(rendered, "ConfigMap", "pod-placement-webhook-policies")
    policies = Volume(root / "policies", {k: v.encode() for k, v in config_map["data"].items()})
    pki = make_certificates(service, namespace, root / "pki")
    secret = {name: (pki / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}
    tls_volume = next(v for v in pod["volumes"] if v["name"] == "tls")["secret"]
    tls = Volume(
        root / "tls",
        secret,
        mode=tls_volume["defaultMode"],
        group=pod["securityContext"]["fsGroup"],
    )
    options, args = run_options(deployment)
    mounts = mount_options(deployment, {"policies": policies.root, "tls": tls.root})
    name = f"pod-placement-webhook-smoke-{os.getpid()}"
    # podman's default ulimits exceed what runc may set on these machines.
    limits = ["--ulimit=nofile=1024:20000", "--ulimit=nproc=4096:4096"]
    run = [*PODMAN, "run", "--detach", f"--name={name}", "--network=none", *limits, *options]
    subprocess.run(
        [*run, *mounts, image, *args],
        check=True,
        capture_output=True,
    )
    try:
        pid = int(
            subprocess.run(
                [*PODMAN, "inspect", "--format={{.State.Pid}}", name],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        ports = {p["name"]: p["containerPort"] for p in pod["containers"][0]["ports"]}
        running = Container(
            name=name,
            pid=pid,
            url=f"https://{service}.{namespace}.svc:{ports['https']}",
            health=f"http://127.0.0.1:{ports['health']}",
            pki=pki,
            policies=policies,
            tls=tls,
            service=service,
            namespace=namespace,
        )
        wait_for(lambda: running.readyz()["status"] == "ok", "ready", running)
        yield running
    finally:
        subprocess.run([*PODMAN, "rm", "--force", "--time=5", name], capture_output=True)


# --- the tests, in the order a pod lives ------------------------------------------------------


def test_the_server_runs_locked_down_as_the_deployment_asks(
    container: Container, rendered: list[Obj]
) -> None:
    status = status_of(container.pid)
    user = one(rendered, "Deployment")["spec"]["template"]["spec"]["securityContext"]
    assert status["Uid"].split() == [str(user["runAsUser"])] * 4
    assert status["Gid"].split() == [str(user["runAsGroup"])] * 4
    assert int(status["CapEff"], 16) == 0 and int(status["CapBnd"], 16) == 0
    assert status["NoNewPrivs"] == "1"
    probe = subprocess.run(
        [*PODMAN, "exec", container.name, "touch", "/opt/venv/x"], capture_output=True, text=True
    )
    assert probe.returncode != 0 and "Read-only file system" in probe.stderr


def test_probes_answer_on_the_health_port(container: Container, rendered: list[Obj]) -> None:
    assert json.loads(container.call(f"{container.health}/healthz")["body"]) == {"status": "ok"}
    ready = container.readyz()
    policies = one(rendered, "ConfigMap", "pod-placement-webhook-policies")["data"]
    documents = [d for t in policies.values() for d in yaml.safe_load_all(t) if d]
    served = [d for d in documents if d["kind"] == "PlacementPolicy"]
    pools = [d for d in documents if d["kind"] == "NodePool"]
    assert ready["policies"] == len(served) and ready["pools"] == len(pools)
    assert ready["reloadFailures"] == 0


def test_a_review_over_tls_gets_its_placement(container: Container, tmp_path: Path) -> None:
    pod = gpu_pod()
    patched, answer = container.review(pod, tmp_path)
    validate_pod(patched)
    assert GPU_TOLERATION in patched["spec"]["tolerations"]
    assert "extended-resource-tolerations" in (
        patched["metadata"]["annotations"]["pod-placement-webhook/policies"].split(",")
    )
    served = x509.load_der_x509_certificate(base64.b64decode(answer["certificate"]))
    names = served.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"{container.service}.{container.namespace}.svc" in names.get_values_for_type(
        x509.DNSName
    )


def test_new_policies_are_served_without_a_restart(container: Container, tmp_path: Path) -> None:
    before = container.readyz()
    files = container.policies.files()
    container.policies.write({k: v for k, v in files.items() if k != "01-extended-resources.yaml"})
    wait_for(lambda: container.readyz()["digest"] != before["digest"], "reloaded", container)
    patched, _ = container.review(gpu_pod(), tmp_path)
    assert GPU_TOLERATION not in patched["spec"].get("tolerations", [])
    container.policies.write(files)
    wait_for(lambda: container.readyz()["digest"] == before["digest"], "restored", container)
    assert 'placement_webhook_policy_reloads_total{result="success"} 2.0' in container.metrics()
    assert status_of(container.pid)["Pid"] == str(container.pid), "the same process"


def test_a_new_certificate_is_served_without_a_restart(container: Container) -> None:
    def serial() -> int:
        # A new connection each time: open ones keep the certificate they started with.
        served = container.call(f"{container.url}/healthz")["certificate"]
        return x509.load_der_x509_certificate(base64.b64decode(served)).serial_number

    first = serial()
    make_certificates(container.service, container.namespace, container.pki)  # same CA
    renewed = (container.pki / "tls.crt").read_bytes()
    container.tls.write(
        {name: (container.pki / name).read_bytes() for name in ("tls.crt", "tls.key", "ca.crt")}
    )
    wanted = x509.load_pem_x509_certificate(renewed).serial_number
    assert wanted != first
    wait_for(lambda: serial() == wanted, "the renewed certificate served", container)
    assert 'placement_webhook_certificate_reloads_total{result="success"} 1.0' in (
        container.metrics()
    )


def test_sigterm_stops_the_server_cleanly(container: Container) -> None:
    subprocess.run([*PODMAN, "kill", "--signal=TERM", container.name], check=True)
    done = subprocess.run(
        [*PODMAN, "wait", container.name], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "0", container.logs()
