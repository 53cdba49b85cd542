"""The core, pure: compile a PolicySet once (`compile`), then for each pod run the policies
(`run`) and get the JSON Patch and what each policy did (`result`)."""

from webhook.engine.compile import (
    CompiledPolicy,
    CompiledPolicySet,
    compile_policy_set,
)
from webhook.engine.judge import INTENTS, Breach, Placement, judge
from webhook.engine.result import Additions, PolicyOutcome, Result
from webhook.engine.run import mutate

__all__ = [
    "INTENTS",
    "Additions",
    "Breach",
    "CompiledPolicy",
    "CompiledPolicySet",
    "Placement",
    "PolicyOutcome",
    "Result",
    "compile_policy_set",
    "judge",
    "mutate",
]
