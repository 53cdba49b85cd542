"""Policy files: the language (`model`), reading and validating them (`load`), the set in force
(`store`) and the JSON Schema editors use (`schema`)."""

from webhook.policy.load import (
    PolicySet,
    Source,
    digest_of,
    load_policy_set,
    parse_policy_set,
    policy_files,
    read_sources,
)
from webhook.policy.store import PolicyStore

__all__ = [
    "PolicySet",
    "PolicyStore",
    "Source",
    "digest_of",
    "load_policy_set",
    "parse_policy_set",
    "policy_files",
    "read_sources",
]
