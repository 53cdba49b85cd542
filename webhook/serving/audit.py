"""The whole set in audit mode: a dry run of every review.

With `mode: audit` in the set's PolicySettings, or `serve --audit` (which serves the set as if
its settings said so), a review is computed exactly as in `enforce`, policies in the order and
passes the engine runs them, each seeing what the others would have added. Then it is answered
without its patch, and what the patch would have added is reported where an enforced review
reports what it added: a warning per policy (the one an audit-mode policy gets), the `audited`
audit annotation, the log line and the metrics. Switching to `enforce` then adds exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass

from webhook.engine import CompiledPolicySet, Result

AUDIT = "audit"
# Kubernetes docs (admission webhooks, "Response warnings"): keep a warning under 120
# characters; the apiserver may cut one past 256.
WARNING_LIMIT = 120


def whole_set_audited(policies: CompiledPolicySet) -> bool:
    return policies.settings.mode == AUDIT


@dataclass(frozen=True)
class DryRun:
    """What an audited review would have done, as its answer reports it."""

    audited: list[str]  # every policy that would have changed the pod, in the set's order
    warnings: list[str]  # the review's own, then one per policy that would have applied
    would_add: list[str]  # the patch's operations, `<op> <path>`, never their values


def dry_run(policies: CompiledPolicySet, result: Result) -> DryRun:
    """The report of a review computed as usual, for an answer that carries no patch."""
    would_apply = set(result.applied) | set(result.audited)
    audited = [p.name for p in policies.policies if p.name in would_apply]
    parts = {o.name: list(o.additions.as_dict()) for o in result.outcomes if o.matched}
    warnings = list(result.warnings)
    for name in result.applied:
        added = ", ".join(parts.get(name, ()))
        warnings.append(_short(f"policy {name} (audit) would add: {added}"))
    return DryRun(audited, warnings, [f"{op['op']} {op['path']}" for op in result.ops])


def _short(text: str) -> str:
    return text if len(text) <= WARNING_LIMIT else text[: WARNING_LIMIT - 3] + "..."
