"""The mutation-kind contract says, on each kind, whether it chooses nodes and where it runs,
and refuses a kind that would slip past the final judgement or add a field an in-tree
admission plugin owns."""

from __future__ import annotations

from dataclasses import replace

import pytest

from webhook.mutations import KINDS, ORDER, contract_problems
from webhook.mutations.kind import PLUGIN_OWNED

BY_NAME = {kind.name: kind for kind in KINDS}


def test_kinds_run_in_the_declared_order() -> None:
    assert [kind.name for kind in KINDS] == list(ORDER)


def test_which_kinds_choose_nodes_is_declared() -> None:
    choosing = {kind.name for kind in KINDS if kind.chooses_nodes}
    assert choosing == {
        "tolerations",
        "nodeAffinity.required",
        "nodeAffinity.preferred",
        "pool",
        "topologySpreadConstraints",
    }
    # Its tolerations are what the in-tree plugin adds where it is on: part of the pod the
    # set starts from, never taken back.
    assert BY_NAME["extendedResourceTolerations"].in_tree == "ExtendedResourceToleration"


def test_the_shipped_kinds_keep_the_contract() -> None:
    assert contract_problems(list(KINDS)) == []


def test_a_kind_adding_node_selectors_without_saying_it_chooses_nodes_is_refused() -> None:
    sneaky = replace(BY_NAME["labels"], path=("spec", "nodeSelector"), keyed="")
    problems = contract_problems([k for k in KINDS if k.name != "labels"] + [sneaky])
    assert "kind labels adds to spec.nodeSelector but does not choose nodes" in problems


@pytest.mark.parametrize(
    "path", [p for p, _ in PLUGIN_OWNED], ids=[".".join(p) for p, _ in PLUGIN_OWNED]
)
def test_no_kind_may_add_a_field_an_in_tree_plugin_owns(path: tuple[str, ...]) -> None:
    owning = replace(BY_NAME["dnsConfig.options"], path=(*path, "x"))
    problems = contract_problems([k for k in KINDS if k.name != "dnsConfig.options"] + [owning])
    assert any(p.startswith(f"kind dnsConfig.options adds to {'.'.join(path)}, which the in-tree")
               for p in problems), problems  # fmt: skip


def test_a_kind_missing_from_the_order_is_refused() -> None:
    extra = replace(BY_NAME["labels"], name="runtimeClass")
    assert "kinds and ORDER differ: ['runtimeClass']" in contract_problems([*KINDS, extra])
