"""NodePool declarations checked against kube-apiserver's Node rules, the providers' own
capacity labels and each other, when the set loads; and the node label keys policies rely on
(a spread constraint's topologyKey is a label key; one no pool states is a warning).

Each refusal is one line naming the file, the document, the line and the field: asserted from
the loader, from the installed `placement-webhook check` (a process of its own, on a directory)
and from a live reload, which keeps the last good set. Each rule is also tried at its edge: the
declaration just inside it loads.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.pods import SHIPPED_POLICIES, expr, gpu, mutated, pod, required_terms_of
from tests.test_cli import console_script
from webhook.engine import compile_policy_set
from webhook.errors import PolicyError
from webhook.policy import PolicyStore, load_policy_set
from webhook.proof import compile_proven


def pool(
    name: str,
    labels: Mapping[str, str],
    capacity: str = "on-demand",
    taints: Sequence[Mapping[str, str]] = (),
    resources: Sequence[str] = (),
) -> str:
    """A NodePool document in block style: one label, taint or resource a line."""
    lines = [
        "apiVersion: pod-placement-webhook/v1",
        "kind: NodePool",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  capacityType: {capacity}",
        "  nodeLabels:",
        *(f"    {key}: {json.dumps(value)}" for key, value in labels.items()),
    ]
    if taints:
        lines += ["  nodeTaints:", *(f"    - {json.dumps(dict(t))}" for t in taints)]
    if resources:
        lines += ["  extendedResources:", *(f"    - {json.dumps(r)}" for r in resources)]
    return "\n".join(lines) + "\n"


def placement(name: str, add: str) -> str:
    return (
        "apiVersion: pod-placement-webhook/v1\nkind: PlacementPolicy\n"
        f"metadata: {{name: {name}}}\nspec:\n  add:\n    {add}\n"
    )


def joined(*docs: str) -> str:
    return "---\n".join(docs)


# For sets that place every pod on a pool preference (GPU pods included) and keep no class off
# spot: what they test is not the placement proof's intents.
NOTHING_KEPT_OFF_SPOT = """apiVersion: pod-placement-webhook/v1
kind: PolicySettings
spec:
  keepOffSpot: []
"""


def line_of(text: str, document: int, needle: str) -> int:
    """The 1-based line of the first line of `document` (1-based) holding `needle`."""
    current = 1
    for number, line in enumerate(text.splitlines(), start=1):
        if line == "---":
            current += 1
        elif current == document and needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in document {document}")


GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
OD = pool("od", {"ng": "general"})
NO_TELLING = "label them apart (a key both state, with another value in each)"


def case(text: str, at: tuple[int, str, str], message: str) -> tuple[str, int, str, str, str]:
    """A refused set: the document, a text on the line, and the field the error names."""
    document, needle, field = at
    return text, document, needle, field, message


REFUSED = {
    # --- pools that their labels cannot tell apart ----------------------------------------
    "an on-demand and a spot pool with the same labels": case(
        joined(OD, pool("sp", {"ng": "general"}, "spot")),
        (2, "ng:", "spec.nodeLabels"),
        "node pools od and sp have the same labels: a pod placed on one can land on the other, "
        f"though od is on-demand and sp spot; {NO_TELLING}",
    ),
    "a spot pool stating every label of an on-demand one": case(
        joined(OD, pool("sp", {"ng": "general", "lifecycle": "spot"}, "spot")),
        (2, "ng:", "spec.nodeLabels"),
        "node pool sp states every label of node pool od: a pod placed on od can land on sp, "
        f"though od is on-demand and sp spot; {NO_TELLING}",
    ),
    "an on-demand pool stating every label of a spot one declared after it": case(
        joined(pool("sp", {"ng": "general"}, "spot"), pool("od", {"ng": "general", "t": "a"})),
        (2, "ng:", "spec.nodeLabels"),
        "node pool od states every label of node pool sp: a pod placed on sp can land on od, "
        f"though sp is spot and od on-demand; {NO_TELLING}",
    ),
    "two on-demand pools with the same labels and other taints": case(
        joined(OD, pool("tainted", {"ng": "general"}, taints=[GPU_TAINT])),
        (2, "ng:", "spec.nodeLabels"),
        "node pools od and tainted have the same labels: a pod placed on one can land on the "
        "other, though their taints differ (od: none; tainted: nvidia.com/gpu=true:NoSchedule); "
        + NO_TELLING,
    ),
    "two on-demand pools with the same labels and other extended resources": case(
        joined(OD, pool("gpus", {"ng": "general"}, resources=["nvidia.com/gpu"])),
        (2, "ng:", "spec.nodeLabels"),
        "node pools od and gpus have the same labels: a pod placed on one can land on the "
        "other, though their extended resources differ (od: none; gpus: nvidia.com/gpu); "
        + NO_TELLING,
    ),
    # --- a capacity type the provider's own label contradicts -----------------------------
    "EKS SPOT declared on-demand": case(
        pool("g", {"eks.amazonaws.com/capacityType": "SPOT"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry eks.amazonaws.com/capacityType=SPOT, "
        "which EKS (managed node groups) sets on spot nodes",
    ),
    "EKS ON_DEMAND declared spot": case(
        pool("g", {"eks.amazonaws.com/capacityType": "ON_DEMAND"}, "spot"),
        (1, "capacityType: spot", "spec.capacityType"),
        "Invalid value: 'spot': the pool's nodes carry "
        "eks.amazonaws.com/capacityType=ON_DEMAND, which EKS (managed node groups) sets on "
        "on-demand nodes",
    ),
    "an EKS Capacity Block declared spot": case(
        pool("g", {"eks.amazonaws.com/capacityType": "CAPACITY_BLOCK"}, "spot"),
        (1, "capacityType: spot", "spec.capacityType"),
        "Invalid value: 'spot': the pool's nodes carry "
        "eks.amazonaws.com/capacityType=CAPACITY_BLOCK, which EKS (managed node groups) sets on "
        "on-demand nodes",
    ),
    "eksctl node-lifecycle spot declared on-demand": case(
        pool("g", {"node-lifecycle": "spot"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry node-lifecycle=spot, which eksctl "
        "(self-managed node groups) sets on spot nodes",
    ),
    "eksctl node-lifecycle on-demand declared spot": case(
        pool("g", {"node-lifecycle": "on-demand"}, "spot"),
        (1, "capacityType: spot", "spec.capacityType"),
        "Invalid value: 'spot': the pool's nodes carry node-lifecycle=on-demand, which eksctl "
        "(self-managed node groups) sets on on-demand nodes",
    ),
    "Karpenter spot declared on-demand": case(
        pool("g", {"karpenter.sh/capacity-type": "spot"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry karpenter.sh/capacity-type=spot, "
        "which Karpenter sets on spot nodes",
    ),
    "Karpenter reserved capacity declared spot": case(
        pool("g", {"karpenter.sh/capacity-type": "reserved"}, "spot"),
        (1, "capacityType: spot", "spec.capacityType"),
        "Invalid value: 'spot': the pool's nodes carry karpenter.sh/capacity-type=reserved, "
        "which Karpenter sets on on-demand nodes",
    ),
    "GKE Spot VMs declared on-demand": case(
        pool("g", {"cloud.google.com/gke-spot": "true"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry cloud.google.com/gke-spot=true, "
        "which GKE (Spot VMs) sets on spot nodes",
    ),
    "GKE spot provisioning declared on-demand": case(
        pool("g", {"cloud.google.com/gke-provisioning": "spot"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry "
        "cloud.google.com/gke-provisioning=spot, which GKE (Spot VMs) sets on spot nodes",
    ),
    "GKE preemptible VMs declared on-demand": case(
        pool("g", {"cloud.google.com/gke-preemptible": "true"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry "
        "cloud.google.com/gke-preemptible=true, which GKE (preemptible VMs) sets on spot nodes",
    ),
    "an AKS spot node pool declared on-demand": case(
        pool("g", {"kubernetes.azure.com/scalesetpriority": "spot"}),
        (1, "capacityType: on-demand", "spec.capacityType"),
        "Invalid value: 'on-demand': the pool's nodes carry "
        "kubernetes.azure.com/scalesetpriority=spot, which AKS (spot node pools) sets on spot "
        "nodes",
    ),
    "an EKS capacity label in the wrong case": case(
        pool("g", {"eks.amazonaws.com/capacityType": "spot"}, "spot"),
        (1, "eks.amazonaws.com/capacityType:", "spec.nodeLabels.eks.amazonaws.com/capacityType"),
        "Invalid value: 'spot': EKS (managed node groups) sets SPOT: labels are "
        "case-sensitive, so no node carries this",
    ),
    "a Karpenter capacity label in the wrong case": case(
        pool("g", {"karpenter.sh/capacity-type": "On-Demand"}),
        (1, "karpenter.sh/capacity-type:", "spec.nodeLabels.karpenter.sh/capacity-type"),
        "Invalid value: 'On-Demand': Karpenter sets on-demand: labels are case-sensitive, so no "
        "node carries this",
    ),
    # --- taints no Node can have ----------------------------------------------------------
    "two taints of one key and effect with other values": case(
        pool("g", {"ng": "g"}, taints=[GPU_TAINT, {**GPU_TAINT, "value": "present"}]),
        (1, '"present"', "spec.nodeTaints[1]"),
        "Duplicate value: 'nvidia.com/gpu=present:NoSchedule': taints must be unique by key and "
        "effect pair: no Node can have both",
    ),
    "one taint twice": case(
        pool(
            "g",
            {"ng": "g"},
            taints=[{"key": "job", "effect": "NoSchedule"}, {"effect": "NoSchedule", "key": "job"}],
        ),
        (1, '{"effect": "NoSchedule", "key": "job"}', "spec.nodeTaints[1]"),
        "Duplicate value: 'job:NoSchedule': taints must be unique by key and effect pair: no "
        "Node can have both",
    ),
    # --- extendedResources that are not extended ------------------------------------------
    **{
        f"extendedResources naming {name}": case(
            pool("g", {"ng": "g"}, resources=[name]),
            (1, json.dumps(name), "spec.extendedResources[0]"),
            f"Invalid value: {name!r}: not an extended resource: a name without a domain is one "
            "of the node's own resources (cpu, memory, ephemeral-storage, hugepages-<size>, pods)",
        )
        for name in ("cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "pods")
    },
    **{
        f"extendedResources naming {name}": case(
            pool("g", {"ng": "g"}, resources=["nvidia.com/gpu", name]),
            (1, json.dumps(name), "spec.extendedResources[1]"),
            f"Invalid value: {name!r}: not an extended resource: names in kubernetes.io/ and its "
            "subdomains are Kubernetes' own resources",
        )
        for name in ("kubernetes.io/batteries", "deviceclass.resource.kubernetes.io/gpu")
    },
    "extendedResources naming a quota name": case(
        pool("g", {"ng": "g"}, resources=["requests.example.com/gpu"]),
        (1, "requests.example.com", "spec.extendedResources[0]"),
        "Invalid value: 'requests.example.com/gpu': not an extended resource: a name starting "
        "with requests. is a quota's",
    ),
    "extendedResources with a 245-character domain": case(
        pool("g", {"ng": "g"}, resources=[f"{'x' * 242}.io/gpu"]),
        (1, ".io/gpu", "spec.extendedResources[0]"),
        f"Invalid value: '{'x' * 64}'... (249 characters): not an extended resource: "
        "its domain is over 244 characters, and requests.<domain> must fit in 253",
    ),
    # --- spread constraints ---------------------------------------------------------------
    "a topologyKey with a space": case(
        placement(
            "spread",
            "topologySpreadConstraints: [{maxSkew: 1, topologyKey: topology zone, "
            "whenUnsatisfiable: DoNotSchedule}]",
        ),
        (1, "topologySpreadConstraints", "spec.add.topologySpreadConstraints[0].topologyKey"),
        "Invalid value: 'topology zone': name part must consist of alphanumeric characters, "
        "'-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName' "
        "or 'my.name' or '123-abc', regex used for validation is "
        "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    ),
    "a topologyKey with a 64-character name": case(
        placement(
            "spread",
            f"topologySpreadConstraints: [{{maxSkew: 1, topologyKey: example.com/{'z' * 64}, "
            "whenUnsatisfiable: ScheduleAnyway}]",
        ),
        (1, "topologySpreadConstraints", "spec.add.topologySpreadConstraints[0].topologyKey"),
        f"Invalid value: 'example.com/{'z' * 52}'... (76 characters): name part must be no more "
        "than 63 bytes",
    ),
    # --- a preference whose key admits a third pool ---------------------------------------
    "a preference whose only key admits a third pool with one of its values": case(
        joined(
            pool("a", {"ng": "a"}, "spot"),
            pool("b", {"ng": "b"}),
            pool("c", {"ng": "a", "zone": "z"}, "spot"),
            placement("pref", "pools: [a, b]"),
        ),
        (4, "pools:", "spec.add.pools"),
        "the pools of a preference need a node label key whose values admit them and no other "
        "pool, for the term that requires them: ng also admits pool c (ng=a)",
    ),
    "a preference whose keys admit a pool that does not state them": case(
        joined(
            pool("a", {"ng": "a", "tier": "1"}, "spot"),
            pool("b", {"ng": "b", "tier": "2"}),
            pool("c", {"karpenter.sh/nodepool": "c"}, "spot"),
            placement("pref", "pools: [a, b]"),
        ),
        (4, "pools:", "spec.add.pools"),
        "the pools of a preference need a node label key whose values admit them and no other "
        "pool, for the term that requires them: ng also admits pool c, which does not state it; "
        "tier also admits pool c, which does not state it",
    ),
    "a preference of pools with no key in common": case(
        joined(
            pool("a", {"ng": "a"}, "spot"),
            pool("b", {"tier": "2"}, "spot"),
            placement("pref", "pools: [a, b]"),
        ),
        (3, "pools:", "spec.add.pools"),
        "the pools of a preference need a node label key whose values admit them and no other "
        "pool, for the term that requires them: the pools state no node label key in common",
    ),
}


def expected_line(path: Path, text: str, document: int, needle: str, field: str, message: str):
    return (
        f"{path}, document {document}, line {line_of(text, document, needle)}: {field}: {message}"
    )


@pytest.mark.parametrize(
    ("text", "document", "needle", "field", "message"), REFUSED.values(), ids=list(REFUSED)
)
def test_the_loader_refuses_it_in_one_line(
    tmp_path: Path, text: str, document: int, needle: str, field: str, message: str
) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as caught:
        load_policy_set(tmp_path)
    assert str(caught.value) == expected_line(path, text, document, needle, field, message)


@pytest.mark.parametrize(
    ("text", "document", "needle", "field", "message"), REFUSED.values(), ids=list(REFUSED)
)
def test_check_refuses_it_in_one_line(
    tmp_path: Path, text: str, document: int, needle: str, field: str, message: str
) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(text)
    done = subprocess.run([console_script(), "check", str(tmp_path)], capture_output=True)
    assert (done.returncode, done.stdout) == (1, b"")
    expected = expected_line(path, text, document, needle, field, message)
    assert done.stderr.decode() == f"error: {expected}\n"


GOOD = joined(pool("a", {"ng": "a"}, "spot"), pool("b", {"ng": "b"}))


@pytest.mark.parametrize(
    ("text", "document", "needle", "field", "message"), REFUSED.values(), ids=list(REFUSED)
)
def test_a_live_reload_refuses_it_and_keeps_the_last_good_set(
    tmp_path: Path, text: str, document: int, needle: str, field: str, message: str
) -> None:
    path = tmp_path / "set.yaml"
    path.write_text(GOOD)
    store = PolicyStore([tmp_path], compile_proven)
    serving, digest = store.current, store.digest
    path.write_text(text)
    assert store.reload() is False
    assert store.last_error == expected_line(path, text, document, needle, field, message)
    assert (store.current, store.digest, store.reloads["failure"]) == (serving, digest, 1)


# Each just inside a rule above: the set loads, and `check` proves it with nothing to warn of.
ACCEPTED = {
    "two pools alike in all but their names": joined(
        pool("a", {"ng": "general"}, taints=[GPU_TAINT], resources=["nvidia.com/gpu"]),
        pool("b", {"ng": "general"}, taints=[GPU_TAINT], resources=["nvidia.com/gpu"]),
    ),
    "a pool stating every label of another alike": joined(
        OD, pool("zoned", {"ng": "general", "topology.kubernetes.io/zone": "a"})
    ),
    "a spot and an on-demand pool one value apart": joined(
        OD, pool("sp", {"ng": "general-spot"}, "spot")
    ),
    "a spot and an on-demand pool that share a label and differ in another": joined(
        pool("od", {"ng": "general", "zone": "a"}),
        pool("sp", {"ng": "general", "zone": "b", "lifecycle": "spot"}, "spot"),
    ),
    **{
        f"{key}={value} declared {capacity}": pool("g", {key: value}, capacity)
        for key, value, capacity in [
            ("eks.amazonaws.com/capacityType", "SPOT", "spot"),
            ("eks.amazonaws.com/capacityType", "ON_DEMAND", "on-demand"),
            ("eks.amazonaws.com/capacityType", "CAPACITY_BLOCK", "on-demand"),
            ("node-lifecycle", "spot", "spot"),
            ("node-lifecycle", "on-demand", "on-demand"),
            ("karpenter.sh/capacity-type", "spot", "spot"),
            ("karpenter.sh/capacity-type", "on-demand", "on-demand"),
            ("karpenter.sh/capacity-type", "reserved", "on-demand"),
            ("cloud.google.com/gke-spot", "true", "spot"),
            ("cloud.google.com/gke-provisioning", "spot", "spot"),
            ("cloud.google.com/gke-preemptible", "true", "spot"),
            ("kubernetes.azure.com/scalesetpriority", "spot", "spot"),
            # Values no provider documents are not judged; node-lifecycle is also set by hand.
            ("cloud.google.com/gke-provisioning", "flex-start", "on-demand"),
            ("node-lifecycle", "Spot", "on-demand"),
        ]
    },
    "two taints of one key with two effects": pool(
        "g", {"ng": "g"}, taints=[GPU_TAINT, {**GPU_TAINT, "effect": "NoExecute"}]
    ),
    "extended resources with a 244-character domain": pool(
        "g", {"ng": "g"}, resources=["nvidia.com/gpu", f"{'x' * 241}.io/gpu"]
    ),
    "a topologyKey with a 63-character name": joined(
        pool("g", {f"example.com/{'z' * 63}": "a"}),
        placement(
            "spread",
            f"topologySpreadConstraints: [{{maxSkew: 1, topologyKey: example.com/{'z' * 63}, "
            "whenUnsatisfiable: DoNotSchedule}]",
        ),
    ),
    "a preference on a key one value of which admits both its pools and no other": joined(
        pool("general-spot", {"nodepool": "general", "capacity": "spot"}, "spot"),
        pool("general-on-demand", {"nodepool": "general", "capacity": "on-demand"}),
        pool("gpu-spot", {"nodepool": "gpu", "capacity": "spot"}, "spot"),
        placement("pref", "pools: [general-spot, general-on-demand]").replace(
            "spec:\n", "spec:\n  match: {extendedResources: false}\n"
        ),
        NOTHING_KEPT_OFF_SPOT,
    ),
}


@pytest.mark.parametrize("text", ACCEPTED.values(), ids=list(ACCEPTED))
def test_just_inside_each_rule_the_set_loads_and_check_has_nothing_to_say(
    tmp_path: Path, text: str
) -> None:
    (tmp_path / "set.yaml").write_text(text)
    load_policy_set(tmp_path)
    done = subprocess.run([console_script(), "check", str(tmp_path)], capture_output=True)
    assert (done.returncode, done.stderr) == (0, b""), done.stderr.decode()
    assert done.stdout.decode().splitlines()[1].startswith("placement proven: ")


def check_warnings(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "set.yaml").write_text(text)
    done = subprocess.run([console_script(), "check", str(tmp_path)], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return done.stderr.decode().splitlines()


def spread(key: str, when: str = "DoNotSchedule") -> str:
    return placement(
        "spread",
        "topologySpreadConstraints: "
        f"[{{maxSkew: 1, topologyKey: {key}, whenUnsatisfiable: {when}}}]",
    )


@pytest.mark.parametrize(
    ("when", "effect"),
    [
        ("DoNotSchedule", "pods it constrains never go to a node without it"),
        ("ScheduleAnyway", "the spread cannot tell nodes without it apart"),
    ],
)
def test_a_spread_key_no_pool_states_is_a_warning(tmp_path: Path, when: str, effect: str) -> None:
    text = joined(GOOD, spread("example.com/rack", when))
    path = tmp_path / "set.yaml"
    assert check_warnings(tmp_path, text) == [
        f"warning: {path}, document 3, line {line_of(text, 3, 'topologySpread')}: spec.add: policy "
        "spread: spreads pods over node label example.com/rack, which no NodePool states and no "
        f"node has by default: {effect}"
    ]


@pytest.mark.parametrize(
    "key", ["topology.kubernetes.io/zone", "kubernetes.io/hostname", "ng"], ids=str
)
def test_a_spread_key_every_node_has_or_a_pool_states_is_no_warning(
    tmp_path: Path, key: str
) -> None:
    assert check_warnings(tmp_path, joined(GOOD, spread(key))) == []


def test_one_policy_requiring_and_spreading_over_unstated_keys_gets_a_warning_for_each(
    tmp_path: Path,
) -> None:
    text = joined(
        GOOD,
        NOTHING_KEPT_OFF_SPOT,
        placement(
            "both",
            "nodeAffinity: {required: [{key: example.com/rack, operator: In, values: [r1]}]}\n"
            "    topologySpreadConstraints: [{maxSkew: 1, topologyKey: example.com/row, "
            "whenUnsatisfiable: DoNotSchedule}]",
        ),
    )
    warnings = check_warnings(tmp_path, text)
    assert [w.split(": spec.add: ")[1] for w in warnings] == [
        "policy both: requires node label example.com/rack, which no NodePool states: the "
        "proof takes it as present on every node",
        "policy both: spreads pods over node label example.com/row, which no NodePool states "
        "and no node has by default: pods it constrains never go to a node without it",
    ]


def test_pools_of_two_capacity_types_that_state_no_key_in_common_are_a_warning(
    tmp_path: Path,
) -> None:
    """A node of one may carry the other's labels: nothing in the set says it does not."""
    text = joined(
        pool("mng", {"eks.amazonaws.com/nodegroup": "batch"}, "spot"),
        pool("karpenter", {"karpenter.sh/nodepool": "general"}),
        pool("more-spot", {"pool": "x"}, "spot"),
    )
    path = tmp_path / "set.yaml"
    assert check_warnings(tmp_path, text) == [
        f"warning: {path}, document 2, line {line_of(text, 2, 'karpenter.sh/nodepool')}: "
        "spec.nodeLabels: node pools mng (spot) and karpenter (on-demand) state no label key in "
        "common with another value: a node of mng may carry the labels of karpenter, and a pod "
        f"placed on karpenter land on it; {NO_TELLING}",
        f"warning: {path}, document 3, line {line_of(text, 3, 'pool:')}: spec.nodeLabels: node "
        "pools more-spot (spot) and karpenter (on-demand) state no label key in common with "
        "another value: a node of more-spot may carry the labels of karpenter, and a pod placed "
        f"on karpenter land on it; {NO_TELLING}",
    ]


# --- the key a preference requires --------------------------------------------------------

# Three pools sharing the key `class`; `ng` tells each apart. A preference of a and b on
# `class` (two values, one for each) would admit c, whose class is a's.
SHARING = (
    pool("a", {"class": "x", "ng": "a"}, "spot"),
    pool("b", {"class": "y", "ng": "b"}),
    pool("c", {"class": "x", "ng": "c"}, "spot"),
)


def placed_by(tmp_path: Path, *docs: str) -> tuple[list[Any], set[str]]:
    """The required terms a preference gives a pod, and the declared pools it can reach."""
    (tmp_path / "set.yaml").write_text(joined(*docs))
    compiled = compile_policy_set(load_policy_set(tmp_path))
    _, after = mutated(compiled, pod())
    reached = {p.name for p in compiled.reachable(after, ())}
    return required_terms_of(after), reached


def test_a_preference_requires_a_key_that_admits_no_third_pool_sharing_a_value(
    tmp_path: Path,
) -> None:
    terms, reached = placed_by(tmp_path, *SHARING, placement("pref", "pools: [a, b]"))
    assert terms == [[expr("ng", "In", "a", "b")]]
    assert reached == {"a", "b"}


def test_a_preference_of_three_pools_two_of_which_share_a_value(tmp_path: Path) -> None:
    """`class` has more than one value among a, b and c, and admits d; `ng` admits no other."""
    fourth = pool("d", {"class": "y", "ng": "d"})
    terms, reached = placed_by(tmp_path, *SHARING, fourth, placement("pref", "pools: [a, b, c]"))
    assert terms == [[expr("ng", "In", "a", "b", "c")]]
    assert reached == {"a", "b", "c"}


def test_a_preference_requires_one_value_once_when_its_pools_share_it(tmp_path: Path) -> None:
    """Karpenter's capacity of one NodePool: the NodePool's name admits both and no other."""
    terms, reached = placed_by(
        tmp_path,
        pool("general-spot", {"capacity": "spot", "nodepool": "general"}, "spot"),
        pool("general-on-demand", {"capacity": "on-demand", "nodepool": "general"}),
        pool("gpu-spot", {"capacity": "spot", "nodepool": "gpu"}, "spot", [GPU_TAINT]),
        placement("pref", "pools: [general-spot, general-on-demand]"),
    )
    assert terms == [[expr("nodepool", "In", "general")]]
    assert reached == {"general-spot", "general-on-demand"}


def test_a_gpu_pod_placed_by_a_preference_reaches_only_its_pools(tmp_path: Path) -> None:
    (tmp_path / "set.yaml").write_text(
        joined(
            pool("cpu-spot", {"capacity": "spot", "nodepool": "cpu"}, "spot"),
            pool("gpu-spot", {"capacity": "spot", "nodepool": "gpu"}, "spot", [GPU_TAINT],
                 ["nvidia.com/gpu"]),
            pool("gpu-od", {"capacity": "on-demand", "nodepool": "gpu"}, "on-demand", [GPU_TAINT],
                 ["nvidia.com/gpu"]),
            placement("pref", "pools: [gpu-spot, gpu-od]"),
        )
    )  # fmt: skip
    compiled = compile_policy_set(load_policy_set(tmp_path))
    _, after = mutated(compiled, pod(gpu()))
    assert required_terms_of(after) == [[expr("nodepool", "In", "gpu")]]
    reached = compiled.reachable(after, ("nvidia.com/gpu",))
    assert {p.name for p in reached} == {"gpu-spot", "gpu-od"}


def test_a_pool_offering_cpu_in_the_shipped_set_is_one_line_not_one_per_policy(
    tmp_path: Path,
) -> None:
    """The pool is refused; the policies that name it are not told again that it is missing."""
    shutil.copytree(
        SHIPPED_POLICIES, tmp_path, dirs_exist_ok=True, ignore=shutil.ignore_patterns("examples")
    )
    pools = tmp_path / "05-node-pools.yaml"
    text = pools.read_text().replace(
        "extendedResources: [nvidia.com/gpu]", "extendedResources: [cpu]"
    )
    pools.write_text(text)
    done = subprocess.run([console_script(), "check", str(tmp_path)], capture_output=True)
    assert (done.returncode, done.stdout) == (1, b"")
    line = line_of(text, 4, "extendedResources")
    assert done.stderr.decode() == (
        f"error: {pools}, document 4, line {line}: spec.extendedResources[0]: Invalid value: "
        "'cpu': not an extended resource: a name without a domain is one of the node's own "
        "resources (cpu, memory, ephemeral-storage, hugepages-<size>, pods)\n"
    )
