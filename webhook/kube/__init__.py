"""What this webhook knows of Kubernetes itself: raw Pod readers, resource names, the workloads
that controllers create, and the volumes kubelet mounts. Imports nothing else of the package."""
