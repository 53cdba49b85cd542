"""The retry proof, beside the placement proof in `check`: which Jobs and workflow steps the set
sends to spot, and whether a RetryPolicy gives them retries.

It runs the placement proof's representative pods (`webhook.proof.representatives`) whose
controller is a Job or an Argo Workflow through `sends_to_spot`, in the first namespace the set
places pods in. A plain Job pod or workflow step (workloads `job`, `argo-workflow`,
`kubeflow-pipeline`, `kubeflow-pipeline-driver`) sent to spot with no RetryPolicy for it is a
warning: one eviction fails its Job or its run. Pods whose Jobs another controller makes (a
JobSet's) are counted when a policy covers them and never warned about: that controller has its
own failure handling. A RetryPolicy that covers none of the pods is a warning too. The proof
only warns: a set may leave some spot work without retries on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webhook.engine import CompiledPolicySet
from webhook.errors import Problem
from webhook.kube.pod import owner_kind_names
from webhook.proof.representatives import Representative, representatives
from webhook.workloads.compile import CompiledRetries, compiled_retries
from webhook.workloads.kinds import Family
from webhook.workloads.spot import sends_to_spot

# The controllers whose pods' retries this webhook adds, by their kind as a pod's owner.
FAMILIES: dict[str, Family] = {"batch/Job": "job", "argoproj.io/Workflow": "workflow"}
PLAIN = ("job", "argo-workflow", "kubeflow-pipeline", "kubeflow-pipeline-driver")
NAMESPACES = ("default", "proof", "proof-1")


@dataclass
class RetryProof:
    policies: int
    spot: int = 0  # representative pods of Jobs and workflows the set sends to spot
    covered: int = 0  # of those, the ones a RetryPolicy gives retries
    warnings: list[Problem] = field(default_factory=list)

    def summary(self) -> str:
        if not self.policies:
            return "retries: the set declares no RetryPolicy"
        policies = f"{self.policies} RetryPolic{'y' if self.policies == 1 else 'ies'}"
        return (
            f"retries: {self.covered} of the {self.spot} representative Job and workflow pods "
            f"the set sends to spot get retries from its {policies}"
        )


def prove_retries(compiled: CompiledPolicySet) -> RetryProof:
    retries = compiled_retries(compiled.source)
    proof = RetryProof(len(retries.policies))
    if not retries.policies or not compiled.pools:
        return proof
    namespace = next(n for n in NAMESPACES if not compiled.placement_excluded(n))
    used: set[str] = set()
    seen: set[str] = set()  # one warning per workload
    for rep in _representatives(compiled):
        family = FAMILIES.get(owner_kind_names(rep.pod)[1])
        if family is None or not sends_to_spot(compiled, rep.pod, namespace, None).spot:
            continue
        proof.spot += 1
        policy = retries.first_for(family, rep.pod, namespace, None)
        if policy is not None:
            proof.covered += 1
            used.add(policy.name)
        elif rep.workload in PLAIN and rep.workload not in seen:
            seen.add(rep.workload)
            proof.warnings.append(_uncovered(compiled, rep, family))
    proof.warnings += _unused(compiled, retries, used)
    return proof


def _representatives(compiled: CompiledPolicySet) -> list[Representative]:
    """Every workload on CPU and on each extended resource the pools offer, without a
    placement of its own (what the set places), evictable or not."""
    resources = sorted({r for pool in compiled.pools for r in pool.node.extended_resources})
    return list(representatives(resources, {}))


def _uncovered(compiled: CompiledPolicySet, rep: Representative, family: Family) -> Problem:
    what = "Job" if family == "job" else "workflow"
    message = (
        f"{rep.description} goes to spot, and no RetryPolicy gives its {what} retries: one "
        f"eviction fails the {what}"
    )
    return Problem(", ".join(compiled.source.sources) or "(policies)", None, None, (), message)


def _unused(compiled: CompiledPolicySet, retries: CompiledRetries, used: set[str]) -> list[Problem]:
    return [
        compiled.source.problem(
            f"RetryPolicy/{policy.name}",
            "spec.match",
            f"retry policy {policy.name} gives retries to none of the representative Job and "
            "workflow pods the set sends to spot",
        )
        for policy in retries.policies
        if policy.name not in used
    ]
