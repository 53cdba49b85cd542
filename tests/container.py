"""The webhook's container as the smoke test runs it (tests/test_image_smoke.py): podman options
from the rendered Deployment, and requests made from inside the container's network namespace."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kube import kubectl_patch
from tests.kubelet import Volume
from tests.reviews import patch_of, review
from tests.test_deploy import Obj

CLIENT = Path(__file__).resolve().parent / "netns_client.py"
PODMAN = ["podman", "--runtime", "runc"]
WAIT_SECONDS = 60.0  # the server polls its files every 2 s


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
