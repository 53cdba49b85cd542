"""deploy/namespace-labels/: the base plus what the Namespace label view needs, nothing else."""

from __future__ import annotations

import kubernetes_validate

from tests.kube import K8S_VERSION
from tests.test_deploy import REPO, one, render


def test_the_overlay_turns_the_namespace_view_on_and_mounts_the_token() -> None:
    base = render(REPO / "deploy")
    overlay = render(REPO / "deploy" / "namespace-labels")
    for obj in overlay:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    pod = one(overlay, "Deployment")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True
    args = pod["containers"][0]["args"]
    assert "--namespace-labels-from-cluster" in args
    role = one(overlay, "ClusterRole")
    verbs = {
        v for rule in role["rules"] if "namespaces" in rule["resources"] for v in rule["verbs"]
    }
    assert verbs == {"get", "list", "watch"}
    # Everything else is the base, unchanged.
    base_pod = one(base, "Deployment")["spec"]["template"]["spec"]
    assert base_pod["automountServiceAccountToken"] is False
    assert args[:-1] == base_pod["containers"][0]["args"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in overlay) == sorted(
        (o["kind"], o["metadata"]["name"]) for o in base
    )
