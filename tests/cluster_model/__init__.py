"""A model of a cluster's nodes and kube-scheduler's filters, to judge where a pod can run.

Written from the scheduler's source, not from the webhook: `Cluster.from_policy_set(path)`
builds one node per declared NodePool, and `feasible`, `why`, `pools_for` and `spot_only` say
where a pod, as the webhook sends it, can be scheduled. Each module ports one plugin and cites
the upstream file it follows.
"""

from tests.cluster_model.cluster import Cluster, Node

__all__ = ["Cluster", "Node"]
