"""`workflowPodAffinity`: a preferred podAffinity term for the pods that share this pod's value
of the first label key present, so one workflow run packs onto few nodes and the rest of the
cluster can scale in. The value differs per run: a static manifest cannot say it."""

from __future__ import annotations

from typing import Any

from webhook.kube.pod import POD_AFFINITY, Pod, preferred_pod_affinity_terms
from webhook.match.facts import PodFacts
from webhook.mutations.kind import Conflict, Context, Items, MutationKind, Patching
from webhook.policy.model import Mutations, WorkflowPodAffinity


def _compile(add: Mutations, context: Context) -> WorkflowPodAffinity | None:
    return add.workflow_pod_affinity


def _missing(pod: Pod, rule: WorkflowPodAffinity, facts: PodFacts) -> tuple[Items, list[Conflict]]:
    labels = facts.labels
    key = next((k for k in rule.label_keys if isinstance(labels.get(k), str)), None)
    if key is None:
        return [], []
    term: dict[str, Any] = {
        "weight": rule.weight,
        "podAffinityTerm": {
            "labelSelector": {
                "matchExpressions": [{"key": key, "operator": "In", "values": [labels[key]]}]
            },
            "topologyKey": rule.topology_key,
        },
    }
    return ([] if term in preferred_pod_affinity_terms(pod) else [term]), []


KIND = MutationKind(
    name="workflowPodAffinity",
    part="podAffinity.preferred",
    reads=("workflow_pod_affinity",),
    path=(*POD_AFFINITY, "preferredDuringSchedulingIgnoredDuringExecution"),
    patching=Patching.APPEND,
    placement=True,
    chooses_nodes=False,
    stale=frozenset(),  # pod affinity is not what "own placement" reads
    compile=_compile,
    missing=_missing,
    depends=frozenset({"labels"}),  # the term carries the pod's workflow label value
)
