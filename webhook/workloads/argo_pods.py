"""The pods the Argo Workflows controller creates for a workflow's steps, built from its spec.

From argo-workflows v4.1.2 `workflow/controller/workflowpod.go` (`podBuilder.build`): each pod
of a container, script, containerSet, resource or data template is named
`<workflow>-<template>-<hash>` (POD_NAMES=v2, `workflow/util/pod_name.go`), labelled
`workflows.argoproj.io/workflow: <workflow>` and `workflows.argoproj.io/completed: "false"`,
annotated with its node name, owned by the Workflow (`metav1.NewControllerRef`), restarts
Never, runs the template's containers as `main` (a containerSet's keep their names) beside the
`wait` container, and takes `addSchedulingConstraints` (nodeSelector, affinity, tolerations,
schedulerName, priorityClassName: the template's, else the workflow's) and `addMetadata`
(`spec.podMetadata`, then the template's own `metadata`). Before that,
`mergedTemplateDefaultsInto` (`operator.go`) lays `spec.templateDefaults` under each template.

What only exists once the workflow runs is left out: parameters stay unresolved, a
`podSpecPatch` (Kubeflow Pipelines v2 sets its steps' resources there) is not applied, a
referenced WorkflowTemplate's templates are not read, and a `generateName` workflow's random
suffix is not known.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from webhook.kube.workloads import ARGO_WORKFLOW_LABEL

Obj = dict[str, Any]
POD_TEMPLATE_TYPES = ("container", "script", "containerSet", "resource", "data")
# wfv1.TemplateType: the fields that make a template one type or another.
TEMPLATE_TYPES = (*POD_TEMPLATE_TYPES, "steps", "dag", "suspend", "http", "plugin")
EXECUTOR_IMAGE = "quay.io/argoproj/argoexec:v4.1.2"  # the controller's default executor image
GENERATED_SUFFIX = "00000"  # stands for the five characters the apiserver adds to generateName
# Read per pod: `addSchedulingConstraints`, the template's value before the workflow's.
_SCHEDULING = (
    ("nodeSelector", "nodeSelector"),
    ("affinity", "affinity"),
    ("tolerations", "tolerations"),
    ("schedulerName", "schedulerName"),
    ("priorityClassName", "podPriorityClassName"),
    ("securityContext", "securityContext"),
    ("serviceAccountName", "serviceAccountName"),
)


@dataclass(frozen=True)
class StepPod:
    template: str  # the template the pod runs
    pod: Obj


def step_pods(
    workflow: Mapping[str, Any], spec: Mapping[str, Any], limit: int | None = None
) -> list[StepPod]:
    """A pod for each template of `spec` that runs one (inline templates of steps and DAG
    tasks included), in the order written, the first `limit` of them; with none (every step
    refers to another WorkflowTemplate), one pod from the workflow's own settings alone."""
    name = workflow_name(workflow)
    defaults = _mapping(spec.get("templateDefaults"))
    runs_pod = (
        t for t in _templates(spec) if any(t.get(k) is not None for k in POD_TEMPLATE_TYPES)
    )
    pods = [
        StepPod(str(t.get("name") or "inline"), _pod(name, workflow, spec, _defaulted(t, defaults)))
        for t in itertools.islice(runs_pod, limit)
    ]
    return pods or [StepPod("", _pod(name, workflow, spec, _defaulted({}, defaults)))]


def workflow_name(workflow: Mapping[str, Any]) -> str:
    metadata = _mapping(workflow.get("metadata"))
    name = metadata.get("name")
    if isinstance(name, str) and name:
        return name
    generate = metadata.get("generateName")
    return f"{generate}{GENERATED_SUFFIX}" if isinstance(generate, str) and generate else "workflow"


def _templates(spec: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    for template in _list(spec.get("templates")):
        if not isinstance(template, Mapping):
            continue
        yield template
        steps = [s for group in _list(template.get("steps")) for s in _list(group)]
        tasks = _list(_mapping(template.get("dag")).get("tasks"))
        for step in (*steps, *tasks):
            inline = _mapping(step).get("inline")
            if isinstance(inline, Mapping):
                yield {**inline, "name": _mapping(step).get("name") or "inline"}


def _defaulted(template: Mapping[str, Any], defaults: Mapping[str, Any]) -> Obj:
    """`mergedTemplateDefaultsInto`: the defaults under the template, a template-type field
    of the defaults only for a template of that type (a strategic merge: maps merge, the
    template's values and lists win)."""
    kind = next((k for k in TEMPLATE_TYPES if template.get(k) is not None), None)
    applicable = {k: v for k, v in defaults.items() if k not in TEMPLATE_TYPES or k == kind}
    return _merge(applicable, template)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any], depth: int = 4) -> Obj:
    """Maps merged `depth` levels down (a container's resources are three), below that the
    template's value whole: no input can make it recurse deeper."""
    out: Obj = dict(base)
    for key, value in over.items():
        below = out.get(key)
        both = depth > 0 and isinstance(below, Mapping) and isinstance(value, Mapping)
        out[key] = _merge(below, value, depth - 1) if both else value  # type: ignore[arg-type]
    return out


def _pod(name: str, workflow: Mapping[str, Any], spec: Mapping[str, Any], template: Obj) -> Obj:
    template_name = str(template.get("name") or "")
    meta = _mapping(spec.get("podMetadata"))
    own = _mapping(template.get("metadata"))
    labels = {ARGO_WORKFLOW_LABEL: name, "workflows.argoproj.io/completed": "false"}
    annotations = {
        "workflows.argoproj.io/node-name": f"{name}.{template_name}" if template_name else name,
        "kubectl.kubernetes.io/default-container": "main",
    }
    for source in (meta, own):
        labels.update(_mapping(source.get("labels")))
        annotations.update(_mapping(source.get("annotations")))
    pod_spec: Obj = {"restartPolicy": "Never", "containers": _containers(template)}
    for own_key, workflow_key in _SCHEDULING:
        value = template.get(own_key) or spec.get(workflow_key)
        if value:
            pod_spec[own_key] = copy.deepcopy(value)
    metadata: Obj = {
        "name": _pod_name(name, template_name),
        "labels": labels,
        "annotations": annotations,
        "ownerReferences": [_owner(workflow, name)],
    }
    namespace = _mapping(workflow.get("metadata")).get("namespace")
    if isinstance(namespace, str) and namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def _containers(template: Mapping[str, Any]) -> list[Obj]:
    wait = {"name": "wait", "image": EXECUTOR_IMAGE, "command": ["argoexec", "wait"]}
    if isinstance(template.get("containerSet"), Mapping):
        listed = _list(_mapping(template["containerSet"]).get("containers"))
        return [wait, *(copy.deepcopy(dict(c)) for c in listed if isinstance(c, Mapping))]
    main: Obj
    if isinstance(template.get("container"), Mapping):
        main = copy.deepcopy(dict(template["container"]))
    elif isinstance(template.get("script"), Mapping):
        main = {k: copy.deepcopy(v) for k, v in template["script"].items() if k != "source"}
    else:  # resource and data templates run the executor itself
        main = {"image": EXECUTOR_IMAGE, "command": ["argoexec"]}
    return [wait, {**main, "name": "main"}]


def _owner(workflow: Mapping[str, Any], name: str) -> Obj:
    uid = _mapping(workflow.get("metadata")).get("uid")
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "name": name,
        "uid": uid if isinstance(uid, str) and uid else f"{name}-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _pod_name(workflow: str, template: str) -> str:
    """`GeneratePodName` (POD_NAMES=v2): `<workflow>-<template>-<FNV-32a of the node name>`."""
    node = f"{workflow}.{template}"
    digest = 0x811C9DC5
    for byte in node.encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{workflow}-{template}-{digest}" if template else workflow


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
