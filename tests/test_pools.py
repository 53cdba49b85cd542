"""Node pools: declared in the set, placed on by name or by preference, proven by `check`,
and guarded at admission so that no placement leaves a runnable pod with nowhere to run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.kube import apply_both, validate_pod
from tests.pods import (
    SHIPPED_POLICIES,
    compiled,
    container,
    expr,
    gpu,
    mutated,
    node_pool,
    owner,
    plain,
    pod,
    policy,
    preferred_node_of,
    required_terms,
    required_terms_of,
    tolerations_of,
)
from tests.scraping import (
    client,
    eventually,
    patch_of,
    pod_review,
    response_of,
    scrape,
    send,
    value,
)
from tests.servers import running_server
from webhook.engine import compile_policy_set, mutate
from webhook.errors import PolicyError
from webhook.policy.load import parse_policy_set
from webhook.proof import prove_placement
from webhook.tools.cli import main

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "policies" / "examples").iterdir())

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
POOLS = (
    node_pool("ondemand", {"ng-name": "ondemand"}),
    node_pool("job", {"ng-name": "job"}, "spot", [{"key": "job", "effect": "NoSchedule"}]),
    node_pool(
        "g1", {"ng-name": "g1", "accelerator": "v100"}, "spot", [GPU_TAINT], ["nvidia.com/gpu"]
    ),
)
NOTEBOOK = owner("StatefulSet", "apps/v1")
JOB = owner("Job", "batch/v1")


def load_error(*docs: dict[str, Any]) -> str:
    text = yaml.safe_dump_all(list(docs), sort_keys=False)
    with pytest.raises(PolicyError) as caught:
        parse_policy_set([("set.yaml", text.encode())])
    return str(caught.value)


# --- the language ---------------------------------------------------------------------------


def test_a_policy_naming_an_undeclared_pool_is_refused_with_the_known_ones() -> None:
    docs = [*POOLS, policy("p", {"pool": "gpu"})]
    text = yaml.safe_dump_all(docs, sort_keys=False).splitlines()
    line = text.index("    pool: gpu") + 1
    assert load_error(*docs) == (
        f"set.yaml, document 4, line {line}: spec.add.pool: no NodePool 'gpu' in the set "
        "(pools: g1, job, ondemand)"
    )


def test_the_pools_of_a_preference_must_state_a_label_key_in_common() -> None:
    apart = node_pool("spot-any", {"zone-spot": "yes"}, "spot")
    message = load_error(*POOLS, apart, policy("p", {"pools": ["spot-any", "ondemand"]}))
    assert message.endswith(
        "spec.add.pools: the pools of a preference need a node label key whose values admit "
        "them and no other pool, for the term that requires them: the pools state no node label "
        "key in common"
    )


@pytest.mark.parametrize(
    ("add", "message"),
    [
        ({"pool": "job", "pools": ["job", "ondemand"]}, "give `pool` or `pools`, not both"),
        ({"pools": ["job"]}, "`pools` is a preference of two or more pools"),
        ({"pools": ["job", "job"]}, "`pools` names a pool twice"),
    ],
    ids=["pool and pools together", "a preference of one", "a pool named twice"],
)
def test_pool_fields_that_make_no_sense_are_refused(add: dict[str, Any], message: str) -> None:
    assert message in load_error(*POOLS, policy("p", add))


def test_two_pools_of_one_name_are_refused() -> None:
    message = load_error(POOLS[0], POOLS[0])
    assert "metadata.name: node pool 'ondemand' is already defined in set.yaml" in message


# --- placing on pools -----------------------------------------------------------------------


def test_a_pool_adds_its_labels_as_required_expressions_and_tolerates_its_taints() -> None:
    result, after = mutated(compiled(*POOLS, policy("spot", {"pool": "job"})), pod())
    assert required_terms_of(after) == [[expr("ng-name", "In", "job")]]
    assert tolerations_of(after) == [{"key": "job", "operator": "Exists", "effect": "NoSchedule"}]
    assert result.applied == ["spot"]


def test_a_taint_the_pod_already_tolerates_gets_no_second_toleration() -> None:
    gpu_toleration = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    _, after = mutated(
        compiled(*POOLS, policy("gpu", {"pool": "g1"})), pod(gpu(), tolerations=[gpu_toleration])
    )
    assert tolerations_of(after) == [gpu_toleration]
    assert required_terms_of(after) == [
        [expr("accelerator", "In", "v100"), expr("ng-name", "In", "g1")]
    ]


def test_a_preference_requires_any_of_its_pools_and_prefers_them_in_order() -> None:
    _, after = mutated(compiled(*POOLS, policy("batch", {"pools": ["job", "ondemand"]})), pod())
    assert required_terms_of(after) == [[expr("ng-name", "In", "job", "ondemand")]]
    assert preferred_node_of(after) == [
        {"weight": 100, "preference": {"matchExpressions": [expr("ng-name", "In", "job")]}},
        {"weight": 50, "preference": {"matchExpressions": [expr("ng-name", "In", "ondemand")]}},
    ]
    assert tolerations_of(after) == [{"key": "job", "operator": "Exists", "effect": "NoSchedule"}]


def test_a_pool_is_anded_into_every_term_the_pod_has() -> None:
    zones = required_terms([expr("zone", "In", "a")], [expr("zone", "In", "b")])
    _, after = mutated(compiled(*POOLS, policy("od", {"pool": "ondemand"})), pod(affinity=zones))
    assert required_terms_of(after) == [
        [expr("zone", "In", "a"), expr("ng-name", "In", "ondemand")],
        [expr("zone", "In", "b"), expr("ng-name", "In", "ondemand")],
    ]


def test_explain_shows_what_a_pool_adds_as_tolerations_and_node_affinity() -> None:
    result = mutate(compiled(*POOLS, policy("spot", {"pool": "job"})), pod(), "ml", explain=True)
    (outcome,) = result.outcomes
    assert outcome.additions.as_dict() == {
        "tolerations": [{"key": "job", "operator": "Exists", "effect": "NoSchedule"}],
        "nodeAffinity.required": [expr("ng-name", "In", "job")],
    }


# --- the guard at admission -----------------------------------------------------------------

# Pools told apart by `tier`; the pod's own term asks for gold, which only pool a has.
TIERS = (node_pool("a", {"ng": "a", "tier": "gold"}), node_pool("b", {"ng": "b", "tier": "silver"}))
ON_B = policy("onto-b", {"pool": "b", "labels": {"placed": "yes"}})


def test_a_placement_that_would_leave_a_runnable_pod_fitting_no_pool_is_not_added() -> None:
    gold = pod(affinity=required_terms([expr("tier", "In", "gold")]))
    result, after = mutated(compiled(*TIERS, ON_B), gold)
    assert required_terms_of(after) == [[expr("tier", "In", "gold")]]
    assert after["metadata"]["labels"] == {"placed": "yes"}  # the rest of the policy applies
    assert result.refused == ["onto-b"]
    assert result.breaches["onto-b"].intent == "runnable"
    (warning,) = result.warnings
    assert warning.startswith(
        "policy onto-b: placement not added (runnable): the pod would fit no node pool"
    )


def test_a_gt_expression_against_the_pods_own_node_selector_value_is_not_added() -> None:
    sized = (
        node_pool("small", {"ng": "small", "cores": "4"}),
        node_pool("big", {"ng": "big", "cores": "64"}),
    )
    big_only = policy("big-only", {"nodeAffinity": {"required": [expr("cores", "Gt", "32")]}})
    result, after = mutated(compiled(*sized, big_only), pod(node_selector={"cores": "4"}))
    assert required_terms_of(after) == []
    assert result.applied == []


def test_a_pod_that_fits_no_pool_by_its_own_choice_is_not_guarded() -> None:
    """The judgement keeps runnable pods runnable; a pod whose own terms name no pool is the
    pod's own doing."""
    bronze = pod(affinity=required_terms([expr("tier", "In", "bronze")]))
    result, after = mutated(compiled(*TIERS, ON_B), bronze)
    assert result.refused == []
    # tier=silver contradicts the pod's own tier: the pod's value is kept, the rest added.
    assert required_terms_of(after) == [[expr("tier", "In", "bronze"), expr("ng", "In", "b")]]


def test_a_pod_requesting_a_resource_no_pool_offers_gets_no_placement() -> None:
    """Sent to a pool without its FPGA, the pod would wait there forever: where no declared
    pool offers what it requests, the set places it nowhere (and says so)."""
    fpga = pod(container(requests={"example.com/fpga": "1"}))
    result, after = mutated(compiled(*TIERS, ON_B), fpga)
    assert result.refused == ["onto-b"]
    assert result.breaches["onto-b"].intent == "resources"
    assert result.warnings == [
        "policy onto-b: placement not added (resources): no node pool offers example.com/fpga"
    ]
    assert required_terms_of(after) == []
    assert after["metadata"]["labels"] == {"placed": "yes"}


def test_without_pools_no_placement_is_guarded() -> None:
    gold = pod(affinity=required_terms([expr("tier", "In", "gold")]))
    result, after = mutated(
        compiled(policy("ng-b", {"nodeAffinity": {"required": [expr("ng", "In", "b")]}})), gold
    )
    assert required_terms_of(after) == [[expr("tier", "In", "gold"), expr("ng", "In", "b")]]
    assert result.refused == []


def test_a_guarded_patch_still_applies_and_validates() -> None:
    gold = plain(pod(affinity=required_terms([expr("tier", "In", "gold")])))
    result = mutate(compiled(*TIERS, ON_B), gold, "ml")
    validate_pod(apply_both(gold, result.ops))


# --- the proof ------------------------------------------------------------------------------


@pytest.mark.parametrize("policy_set", [SHIPPED_POLICIES, *EXAMPLES], ids=lambda p: p.name)
def test_the_shipped_set_and_every_example_pass_their_placement_proof(
    policy_set: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(policy_set)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines()[1].startswith("placement proven: ")


def test_gpu_notebooks_sent_to_on_demand_pools_without_gpus_fail_the_proof(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "policies"
    shutil.copytree(SHIPPED_POLICIES, broken, ignore=shutil.ignore_patterns("examples"))
    keep_off = broken / "10-keep-off-spot.yaml"
    text = keep_off.read_text()
    keep_off.write_text(text.replace("    extendedResources: false\n", "", 1))
    assert main(["check", str(broken)]) == 1
    _, err = capsys.readouterr()
    add_line = keep_off.read_text().splitlines().index("    pool: ondemand") + 1
    where = f"error: {keep_off}, document 1, line {add_line}: spec.add"
    found = [line for line in err.splitlines() if "policy stateful-on-demand" in line]
    assert found[0].startswith(f"{where}: policy stateful-on-demand: a GPU notebook (or ")
    assert (
        ": the pod would fit no node pool: pool ondemand offers no nvidia.com/gpu [intent runnable]"
    ) in found[0]
    assert err.splitlines()[-1] == f"error: placement proof failed: {len(found)} problems"


def test_a_set_that_sends_notebooks_to_spot_fails_the_proof() -> None:
    spot_notebooks = policy(
        "notebooks-on-spot",
        {"pool": "job"},
        match={"workloads": ["notebook"], "extendedResources": False},
    )
    problems = prove_placement(compiled(*POOLS, spot_notebooks)).problems
    (problem,) = problems
    assert problem.message.startswith(
        "policy notebooks-on-spot: a CPU notebook: the pod is kept off spot but would fit only "
        "spot pools (job) [intent off-spot] (and "
    )
    assert problems[0].file == "test.yaml"
    assert problems[0].document == 4


def test_a_gpu_notebook_where_every_gpu_node_is_spot_is_not_the_sets_doing() -> None:
    """The field report's cluster: its GPU notebook lands on the spot GPU pool by itself."""
    gpu_notebook = pod(gpu(), labels={"notebook-name": "nb"}, owners=[NOTEBOOK])
    result, after = mutated(compile_policy_set(shipped_set()), gpu_notebook, "team-ml")
    assert result.applied == ["extended-resource-tolerations"]
    assert required_terms_of(after) == []
    assert prove_placement(compile_policy_set(shipped_set())).problems == []


def shipped_set() -> Any:
    from webhook.policy import load_policy_set

    return load_policy_set(SHIPPED_POLICIES)


def test_a_set_with_no_pools_says_it_cannot_prove_placement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(policy("p", {"labels": {"a": "b"}})))
    assert main(["check", str(tmp_path)]) == 0
    out, _ = capsys.readouterr()
    assert out.splitlines()[1] == "placement not proven: the set declares no NodePool"


def test_a_key_no_pool_states_is_a_warning_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zoned = policy("zoned", {"nodeAffinity": {"required": [expr("example.com/rack", "In", "r1")]}})
    (tmp_path / "set.yaml").write_text(yaml.safe_dump_all([*POOLS, zoned], sort_keys=False))
    assert main(["check", str(tmp_path)]) == 0
    _, err = capsys.readouterr()
    assert "policy zoned: requires node label example.com/rack, which no NodePool states" in err


# --- the server -----------------------------------------------------------------------------


def write_set(directory: Path, *docs: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "set.yaml").write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return directory


def test_the_server_answers_a_guarded_placement_with_a_warning_and_counts_it(tmp_path: Path):
    """A pod the proof's classes do not cover (its tier term is a platform key's, so it has
    no placement of its own) is still judged as it will be sent."""
    settings = {
        "apiVersion": "pod-placement-webhook/v1",
        "kind": "PolicySettings",
        "spec": {"platformLabelKeys": ["kubernetes.io/os", "tier"]},
    }
    on_b = policy(
        "onto-b",
        {"pool": "b", "labels": {"placed": "yes"}},
        match={"placement": "none", "extendedResources": False},
    )
    policies = write_set(tmp_path / "policies", settings, *TIERS, on_b)
    gold = pod(affinity=required_terms([expr("tier", "In", "gold")]), namespace="ml")
    with running_server(tmp_path, [policies]) as server, client(server) as http:
        answer = response_of(send(http, pod_review(gold, "ml")))
        (warning,) = answer["warnings"]
        assert warning.startswith(
            "policy onto-b: placement not added (runnable): the pod would fit no node pool"
        )
        # The annotations name the policy that applied and the one whose placement was
        # refused, so that the apiserver's second call refuses it again and adds nothing.
        assert [op["path"] for op in patch_of(answer)] == [
            "/metadata/labels",
            "/metadata/annotations",
            "/metadata/annotations/pod-placement-webhook~1placement-refused",
        ]
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_placement_refused_total", policy="onto-b") == 1
        refused_by = "placement_webhook_placement_refused_by_intent_total"
        assert value(samples, refused_by, intent="runnable") == 1
        assert value(samples, refused_by, intent="off-spot") == 0


def test_the_server_does_not_start_on_a_set_that_fails_its_proof(tmp_path: Path):
    spot_notebooks = policy("notebooks-on-spot", {"pool": "job"}, match={"workloads": ["notebook"]})
    policies = write_set(tmp_path / "policies", *POOLS, spot_notebooks)
    with (
        pytest.raises(RuntimeError, match="exited with 1") as caught,
        running_server(tmp_path, [policies]),
    ):
        pass
    assert (
        "policy notebooks-on-spot: a CPU notebook: the pod is kept off spot but would fit only "
        "spot pools (job) [intent off-spot]"
    ) in str(caught.value)


def test_a_reload_that_fails_the_proof_keeps_the_last_good_set(tmp_path: Path):
    policies = write_set(tmp_path / "policies", *POOLS, policy("od", {"pool": "ondemand"}))
    with running_server(tmp_path, [policies], ["--policy-poll-seconds", "0.1"]) as server:
        digest = httpx.get(server.health_url + "/readyz").json()["digest"]
        spot_notebooks = policy("od", {"pool": "job"}, match={"workloads": ["notebook"]})
        write_set(policies, *POOLS, spot_notebooks)

        def refused() -> bool:
            return httpx.get(server.health_url + "/readyz").json()["reloadFailures"] == 1

        eventually(refused, "the reload is refused")
        ready = httpx.get(server.health_url + "/readyz").json()
        assert ready["digest"] == digest
        assert (
            "a CPU notebook: the pod is kept off spot but would fit only spot pools (job)"
            in ready["lastReloadError"]
        )
        _, samples = scrape(server)
        assert value(samples, "placement_webhook_policy_reloads_total", result="failure") == 1


def test_every_workload_has_a_representative_recognised_as_it() -> None:
    from webhook.kube.workloads import WORKLOADS, workload_of
    from webhook.proof.representatives import representatives

    pods = {rep.workload: rep.pod for rep in representatives([], {})}
    assert set(pods) == set(WORKLOADS)
    assert {name: workload_of(p) for name, p in pods.items()} == {w: w for w in WORKLOADS}


def test_a_pool_policy_whose_own_affinity_contradicts_its_pool_is_not_placed() -> None:
    """Placing on pool a and requiring tier=silver, which only pool b has: the pod would fit
    no pool, so the placement is taken back (no shortcut judges a pool policy by its pool
    alone)."""
    contradicting = policy(
        "a-but-silver",
        {"pool": "a", "nodeAffinity": {"required": [expr("tier", "In", "silver")]}},
    )
    result, after = mutated(compiled(*TIERS, contradicting), pod())
    assert result.breaches["a-but-silver"].intent == "runnable"
    assert required_terms_of(after) == []


def test_the_proof_tries_every_workload_evictable_and_not_with_and_without_a_placement() -> None:
    from webhook.proof.classes import derive, pod_classes

    compiled_set = compile_policy_set(shipped_set())
    derivation = derive(compiled_set)
    seen = {
        (c.workload, "safe-to-evict false" in c.description, "own placement" in c.description)
        for c in pod_classes(compiled_set, derivation)
    }
    for workload in derivation.workloads:
        for evictable in (True, False):
            for own in (True, False):
                assert (workload, not evictable, own) in seen
