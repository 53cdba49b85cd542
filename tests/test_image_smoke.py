"""The built image, run as deploy/ runs it: the smoke test CI runs on every change.

`make image-debian` builds the Dockerfile unchanged but for its base (a stand-in for
python:3.11-slim-bookworm made from Debian packages: no registry is reachable here). The
container then runs with what the rendered Deployment asks for: its user and group, a read-only
root filesystem, every capability dropped, no privilege escalation, a tmpfs /tmp, its args, the
policy ConfigMap and the TLS Secret laid out as kubelet lays them out (`..data` symlinks, the
Secret's mode and the pod's fsGroup). Without a network of its own it is reached from inside its
network namespace (nsenter), by its Service's DNS name, verifying the CA as the apiserver does.

Needs root, buildah, podman, runc, mmdebstrap and nsenter (.ci/install-system-tools); fails
without them unless PLACEMENT_WEBHOOK_SKIP_SYSTEM_TOOLS=1.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509

from tests.kube import kubectl_patch, validate_pod
from tests.kubelet import Volume
from tests.reviews import gpu_pod, patch_of, review
from tests.system_tools import require
from tests.test_deploy import REPO, Obj, one, render

pytestmark = pytest.mark.timeout(900)

IMAGE = os.environ.get("PLACEMENT_WEBHOOK_IMAGE", "localhost/pod-placement-webhook:dev")
CLIENT = Path(__file__).resolve().parent / "netns_client.py"
PODMAN = ["podman", "--runtime", "runc"]
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
WAIT_SECONDS = 60.0  # the server polls its files every 2 s


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


@dataclass
class Container:
    name: str
    pid: int
    url: str  # https://<service>.<namespace>.svc:<container port>
    health: str  # http://127.0.0.1:<health port>
    pki: Path
    policies: Volume
    tls: Volume
    service: str
    namespace: str

    def call(self, url: str, body: Any = None, tmp: Path | None = None) -> dict[str, Any]:
        command = ["nsenter", "-t", str(self.pid), "-n", sys.executable, str(CLIENT), url]
        command += ["--cacert", str(self.pki / "ca.crt")]
        if body is not None:
            assert tmp is not None
            data = tmp / "body.json"
            data.write_text(json.dumps(body))
            command += ["--data", str(data)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
        if done.returncode != 0:
            raise ConnectionError(done.stderr.strip().splitlines()[-1])
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def readyz(self) -> dict[str, Any]:
        answer = self.call(f"{self.health}/readyz")
        assert answer["status"] == 200, answer
        body: dict[str, Any] = json.loads(answer["body"])
        return body

    def metrics(self) -> str:
        answer = self.call(f"{self.health}/metrics")
        assert answer["status"] == 200
        text: str = answer["body"]
        return text

    def review(self, pod: Obj, tmp: Path) -> tuple[Obj, dict[str, Any]]:
        answer = self.call(f"{self.url}/mutate?timeout=5s", review(pod), tmp)
        assert answer["status"] == 200, answer
        body = json.loads(answer["body"])
        assert body["response"]["allowed"] is True
        return kubectl_patch(pod, patch_of(body)), answer

    def logs(self) -> str:
        done = subprocess.run(
            [*PODMAN, "logs", self.name], capture_output=True, text=True, check=False
        )
        return done.stdout + done.stderr


def wait_for(condition: Callable[[], bool], what: str, container: Container) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (ConnectionError, AssertionError, json.JSONDecodeError):
            pass
        time.sleep(0.25)
    pytest.fail(f"{what} within {WAIT_SECONDS:.0f} s; container log:\n{container.logs()}")


def run_options(deployment: Obj) -> tuple[list[str], list[str]]:
    """podman options for the pod's security context, and the container's args."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pod_context, context = pod["securityContext"], container["securityContext"]
    options = [
        f"--user={pod_context['runAsUser']}:{pod_context['runAsGroup']}",
        f"--group-add={pod_context['fsGroup']}",
    ]
    assert context["readOnlyRootFilesystem"] is True
    options.append("--read-only")
    assert context["capabilities"] == {"drop": ["ALL"]}
    options.append("--cap-drop=ALL")
    assert context["allowPrivilegeEscalation"] is False
    options.append("--security-opt=no-new-privileges")
    return options, container["args"]


def mount_options(deployment: Obj, volumes: dict[str, Path]) -> list[str]:
    """Each volumeMount of the container, from a host directory or as a tmpfs (emptyDir)."""
    pod = deployment["spec"]["template"]["spec"]
    sources = {v["name"]: v for v in pod["volumes"]}
    options = []
    for mount in pod["containers"][0]["volumeMounts"]:
        source = sources[mount["name"]]
        if "emptyDir" in source:
            options.append(f"--tmpfs={mount['mountPath']}:rw,size=16m,mode=1777")
        else:
            assert mount["readOnly"] is True
            options.append(f"--volume={volumes[mount['name']]}:{mount['mountPath']}:ro")
    return options


@pytest.fixture(scope="module")
def rendered() -> list[Obj]:
    return render(REPO / "deploy")


@pytest.fixture(scope="module")
def container(
    image: str, rendered: list[Obj], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Container]:
    root = tmp_path_factory.mktemp("pod")
    deployment = one(rendered, "Deployment")
    (hook,) = one(rendered, "MutatingWebhookConfiguration")["webhooks"]
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


def make_certificates(service: str, namespace: str, out: Path) -> Path:
    """`placement-webhook certs` as docs/install.md runs it; reuses the CA already in `out`."""
    cli = Path(sys.executable).parent / "placement-webhook"
    names = ["--service", service, "--namespace", namespace]
    subprocess.run([cli, "certs", *names, "--out", str(out)], check=True, capture_output=True)
    return out


def service_namespace(hook: Obj) -> str:
    namespace: str = hook["clientConfig"]["service"]["namespace"]
    return namespace


def status_of(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


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
    served = sum(len([d for d in yaml.safe_load_all(t) if d]) for t in policies.values())
    # The settings document is not a policy.
    assert ready["policies"] == served - 1 and ready["reloadFailures"] == 0


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
