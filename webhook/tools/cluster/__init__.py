"""The cluster as it is: Nodes, Karpenter NodePools, Namespaces and Pods, read from a dump or
from the API (`--cluster`), for `pools`, `check --nodes` and `preview`."""
