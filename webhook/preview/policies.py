"""The one place the preview reaches the policy engine: load a set, run it on one pod."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from webhook.engine import CompiledPolicySet, Result, compile_policy_set, mutate
from webhook.errors import PolicyError
from webhook.policy.load import load_policy_set

__all__ = ["CompiledPolicySet", "PolicyError", "Result", "load", "run"]


def load(paths: Sequence[Path]) -> CompiledPolicySet:
    return compile_policy_set(load_policy_set(list(paths)))


def run(
    compiled: CompiledPolicySet,
    pod: Mapping[str, Any],
    namespace: str,
    namespace_labels: Mapping[str, str] | None,
) -> Result:
    return mutate(compiled, pod, namespace, namespace_labels)
